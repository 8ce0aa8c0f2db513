import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Synchronization
import Testing

/// PostgreSQL stopped and restarted again and again while eight clients write to one board: every
/// request is answered within the pool timeout, answers during an outage are fast 503s with
/// `Retry-After`, the board accepts writes after every restart (no per-board state survives a failed
/// write), and every acknowledged card is in the database, at dense positions.
@Suite("PostgreSQL stopped and restarted under concurrent writes to one board", .serialized)
struct OutageCycleTests {
    struct Outcome: Sendable {
        var status: Int
        var seconds: Double
        var retryAfter: Bool
        var problemJSON: Bool
        var title: String
        var duringOutage: Bool
    }

    static let cycles = 20
    static let writers = 8
    static let poolTimeout: Duration = .seconds(5)
    /// A request that takes longer than this was not answered within the bound (the pool timeout) plus
    /// scheduling noise on a loaded 2-core machine.
    static let answerBound = 7.0
    /// A 503 once the outage is known must come this fast (the outage lease timeout is 1 s).
    static let fastFailureBound = 2.5

    @Test
    func stopAndRestartUnderConcurrentWritesToOneBoard() async throws {
        let server = try await PostgresTestServer.startDedicated()
        let result = await TestSupport.capture {
            let url = try DatabaseURL(parsing: try await server.createDatabase())
            var pool = PoolSettings()
            pool.timeout = Self.poolTimeout
            let store = try await Store.open(url, pool: pool, logger: TestSupport.logger)
            let outcome = await TestSupport.capture {
                try await store.migrator.migrate(logger: TestSupport.logger)
                try await TestSupport.application(store: store).test(.router) { client in
                    try await Self.run(client: client, store: store, server: server)
                }
            }
            await store.shutdown()
            try outcome.get()
        }
        await server.destroy()
        try result.get()
    }

    static func run(client: some TestClientProtocol & Sendable, store: Store, server: PostgresTestServer) async throws {
        let project = try await client.send("/api/projects", .post, json: #"{"name":"Outage board"}"#).json(Project.self)
        let shared = Shared()
        let clock = ContinuousClock()

        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for writer in 0..<Self.writers {
                    group.addTask {
                        var sequence = 0
                        while !shared.stop.load(ordering: .relaxed) {
                            sequence += 1
                            let title = "w\(writer)-\(sequence)"
                            let wasDown = shared.down.load(ordering: .relaxed)
                            let start = clock.now
                            let response = try? await client.send("/api/tasks", .post, json: #"{"project_id":"\#(project.id)","title":"\#(title)"}"#)
                            let seconds = Self.seconds(start.duration(to: clock.now))
                            shared.outcomes.withLock {
                                $0.append(Outcome(
                                    status: response.map { Int($0.status.code) } ?? -1, seconds: seconds,
                                    retryAfter: response?.headers[.retryAfter] != nil,
                                    problemJSON: response?.headers[.contentType] == "application/problem+json",
                                    title: title, duringOutage: wasDown && shared.down.load(ordering: .relaxed)
                                ))
                            }
                            if response?.status != .created { try? await Task.sleep(for: .milliseconds(50)) }
                        }
                    }
                }
            }
        }

        var recoveries: [Double] = []
        for _ in 0..<Self.cycles {
            try await Task.sleep(for: .milliseconds(400))
            try await server.stop()
            shared.down.store(true, ordering: .relaxed)
            // Long enough for several rounds of requests that start and end while the server is known down.
            try await Task.sleep(for: .milliseconds(2500))
            shared.down.store(false, ordering: .relaxed)
            try await server.start()
            // The same board must take writes again within a few seconds of the restart.
            let restarted = clock.now
            var recovered = false
            while !recovered && restarted.duration(to: clock.now) < .seconds(15) {
                let response = try await client.send("/api/tasks", .post, json: #"{"project_id":"\#(project.id)","title":"probe"}"#)
                recovered = response.status == .created
                if !recovered { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(recovered, "the board took no write within 15 s of a restart")
            recoveries.append(Self.seconds(restarted.duration(to: clock.now)))
        }
        shared.stop.store(true, ordering: .relaxed)
        // A wedged writer would hang here: bound the wait.
        let finished = await Self.finishes(within: .seconds(30)) { await writers.value }
        #expect(finished, "writers did not finish within 30 s of the last cycle: a request hung")

        let all = shared.outcomes.withLock { $0 }
        let acknowledged = Set(all.filter { $0.status == 201 }.map(\.title))
        let refused = all.filter { $0.status != 201 }
        let longest = all.map(\.seconds).max() ?? 0
        let outageAnswers = refused.filter(\.duringOutage)
        let slowestOutageAnswer = outageAnswers.map(\.seconds).sorted().dropLast(Self.writers).last ?? 0

        #expect(all.count > Self.cycles * Self.writers, "the writers kept writing: \(all.count) requests")
        #expect(!outageAnswers.isEmpty, "requests were made while the server was down")
        #expect(longest <= Self.answerBound, "a request took \(longest) s; the bound is the pool timeout (\(Self.poolTimeout))")
        for outcome in refused {
            #expect(outcome.status == 503 && outcome.retryAfter && outcome.problemJSON, "\(outcome.title): \(outcome.status) after \(outcome.seconds) s")
        }
        // The first request of each outage may wait for the server to be found down; the rest fail fast.
        #expect(slowestOutageAnswer <= Self.fastFailureBound, "a 503 during a known outage took \(slowestOutageAnswer) s")

        let stored = try await store.database.read { sql in
            try await sql.raw("SELECT title, board_column, position FROM tasks WHERE project_id = \(bind: project.id)").all().map {
                (try $0.decode(column: "title", as: String.self), try $0.decode(column: "board_column", as: String.self), try $0.decode(column: "position", as: Int.self))
            }
        }
        let titles = Set(stored.map(\.0))
        let lost = acknowledged.subtracting(titles)
        #expect(lost.isEmpty, "acknowledged cards missing after the outages: \(lost.sorted().prefix(10))")
        for column in Set(stored.map(\.1)) {
            let positions = stored.filter { $0.1 == column }.map(\.2).sorted()
            #expect(positions == Array(0..<positions.count), "positions of \(column) are not dense and unique")
        }
        print("""
            OutageCycleTests: \(Self.cycles) stop/restart cycles, \(all.count) writes (\(acknowledged.count) acknowledged, \
            \(refused.count) answered 503, \(all.filter { $0.status == -1 }.count) unanswered), longest wait \(String(format: "%.2f", longest)) s, \
            slowest 503 during a known outage \(String(format: "%.2f", slowestOutageAnswer)) s, recovery after restart \
            max \(String(format: "%.2f", recoveries.max() ?? 0)) s, rows lost \(lost.count); 503 latencies (s): \
            \(Self.percentiles(refused.map(\.seconds))), during known outages: \(Self.percentiles(outageAnswers.map(\.seconds)))
            """)
    }

    /// What the writers and the cycling loop share.
    final class Shared: Sendable {
        let outcomes = Mutex<[Outcome]>([])
        let stop = Atomic<Bool>(false)
        let down = Atomic<Bool>(false)
    }

    /// "p50 … p90 … max …" of `values`, for the printed figures.
    static func percentiles(_ values: [Double]) -> String {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return "none" }
        func at(_ fraction: Double) -> String { String(format: "%.2f", sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]) }
        return "n=\(sorted.count) p50 \(at(0.5)) p90 \(at(0.9)) max \(at(1))"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Whether `body` returns within `limit`; it is left running if not (a task group would wait for it).
    static func finishes(within limit: Duration, _ body: @escaping @Sendable () async -> Void) async -> Bool {
        let first = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            first.withLock { $0 = continuation }
            let resume: @Sendable (Bool) -> Void = { value in first.withLock { $0.take() }?.resume(returning: value) }
            Task {
                await body()
                resume(true)
            }
            Task {
                try? await Task.sleep(for: limit)
                resume(false)
            }
        }
    }
}
