import DovetailStore
import DovetailTesting
import Foundation
import HummingbirdTesting
import Synchronization
import Testing

/// Several `serve` processes on one PostgreSQL behave as one server for live streams: an event appended
/// through one replica reaches a stream opened on another as the append commits (`LISTEN/NOTIFY`), not at
/// that replica's next poll.
@Suite("Live events across replicas (PostgreSQL LISTEN/NOTIFY)")
struct ReplicaEventStreamTests {
    /// A client streams from replica A while 50 events are appended, one after the other, through replica B's
    /// API: every one arrives once, in order, and the time from B's request to A's client seeing the event
    /// stays far below the one-second poll (and below the five-second poll of a listening replica).
    @Test
    func eventAppendedThroughOneReplicaReachesAStreamOnAnother() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try DatabaseURL(parsing: try await server.createDatabase())
        let result = await TestSupport.capture { try await Replicas.run(url: url) { a, b in
            let session = try await a.createSession()
            let stream = LiveStream(port: a.port, sessionId: session)
            defer { stream.stop() }
            try await Replicas.waitUntilListening(a)

            var latencies: [Duration] = []
            for number in 1...50 {
                let sent = ContinuousClock.now
                let seq = try await b.append(to: session, number: number)
                let arrived = try #require(await stream.arrival(of: seq, within: .seconds(5)), "event \(seq) never reached replica A")
                latencies.append(sent.duration(to: arrived))
            }
            #expect(stream.ids == Array(1...50))
            let figures = LatencyFigures(latencies)
            print("Cross-replica SSE delivery, 50 events (B's request → A's client): \(figures)")
            #expect(figures.p95 < .milliseconds(300), "\(figures)")
        } }
        if case .postgres(let info) = url { try? await server.dropDatabase(info.database) }
        try result.get()
    }

    /// PostgreSQL restarts while a client streams from each replica: both listeners notice, reconnect on their
    /// own, and every event appended after the restart (including those appended before the listeners were
    /// back) reaches both clients exactly once, in order; afterwards deliveries are prompt again.
    @Test
    func listenersReconnectAfterARestartAndLoseNothing() async throws {
        let server = try await PostgresTestServer.startDedicated()
        let result = await TestSupport.capture {
            let url = try DatabaseURL(parsing: try await server.createDatabase())
            var pool = PoolSettings()
            pool.timeout = .seconds(5)
            try await Replicas.run(url: url, pool: pool) { a, b in
                let session = try await a.createSession()
                let onA = LiveStream(port: a.port, sessionId: session)
                let onB = LiveStream(port: b.port, sessionId: session)
                defer {
                    onA.stop()
                    onB.stop()
                }
                try await Replicas.waitUntilListening(a, b)
                for number in 1...4 { _ = try await (number.isMultiple(of: 2) ? a : b).append(to: session, number: number) }

                try await server.stop()
                let noticed = await Replicas.waitUntil(within: .seconds(10)) { !a.store.isListeningForEvents && !b.store.isListeningForEvents }
                #expect(noticed, "the listeners did not notice that PostgreSQL stopped")
                try await server.start()
                // Appended at once, while the listeners are probably still reconnecting.
                for number in 5...8 { _ = try await (number.isMultiple(of: 2) ? a : b).append(to: session, number: number, retrying: true) }
                try await Replicas.waitUntilListening(a, b, within: .seconds(15))

                var latencies: [Duration] = []
                for number in 9...20 {
                    let sent = ContinuousClock.now
                    let seq = try await (number.isMultiple(of: 2) ? a : b).append(to: session, number: number, retrying: true)
                    for stream in [onA, onB] {
                        let arrived = try #require(await stream.arrival(of: seq, within: .seconds(10)), "event \(seq) never arrived")
                        latencies.append(sent.duration(to: arrived))
                    }
                }
                // A request answered 503 may still have committed, so the database says how many events there are.
                let last = try #require(try await a.store.events.list(sessionId: session, after: 0, limit: 500).last?.seq)
                for stream in [onA, onB] {
                    _ = await stream.arrival(of: last, within: .seconds(10))
                    #expect(stream.ids == Array(1...last))
                }
                let figures = LatencyFigures(latencies)
                print("Cross-replica SSE delivery after a PostgreSQL restart, \(latencies.count) deliveries: \(figures)")
                #expect(figures.p50 < .milliseconds(500), "\(figures)")
            }
        }
        await server.destroy()
        try result.get()
    }
}

/// One `serve` application over its own store (its own pool and listener), listening on a real port.
struct Replica: Sendable {
    let store: Store
    let client: any TestClientProtocol
    let port: Int

    func createSession() async throws -> String {
        let project = try await client.send("/api/projects", .post, json: #"{"name":"Replicas"}"#).json(Identified.self)
        let session = try await client.send("/api/sessions", .post, json: #"{"project_id":"\#(project.id)"}"#)
        #expect(session.status == .created, "\(session.text)")
        return try session.json(Identified.self).id
    }

    /// Appends an event through the API and returns its seq; `retrying` retries 503s while PostgreSQL comes back.
    func append(to session: String, number: Int, retrying: Bool = false) async throws -> Int64 {
        for _ in 0..<(retrying ? 100 : 1) {
            let response = try await client.send("/api/sessions/\(session)/events", .post, json: #"{"type":"n","payload":{"n":\#(number)}}"#)
            if response.status == .created { return try response.json(Sequenced.self).seq }
            guard retrying, response.status == .serviceUnavailable else {
                throw ReplicaTestError("appending event \(number) answered \(response.status): \(response.text)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ReplicaTestError("appending event \(number) kept answering 503")
    }

    struct Sequenced: Decodable { var seq: Int64 }
}

struct ReplicaTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Replicas {
    /// Two replicas over the database at `url` (migrated once), both serving until `body` returns.
    static func run(url: DatabaseURL, pool: PoolSettings = PoolSettings(), _ body: @escaping @Sendable (Replica, Replica) async throws -> Void) async throws {
        let first = try await Store.open(url, pool: pool, logger: TestSupport.logger)
        let second = try await Store.open(url, pool: pool, logger: TestSupport.logger)
        let outcome = await TestSupport.capture {
            try await first.migrator.migrate(logger: TestSupport.logger)
            try await TestSupport.application(store: first).test(.live) { clientA in
                try await TestSupport.application(store: second).test(.live) { clientB in
                    try await body(
                        Replica(store: first, client: clientA, port: try #require(clientA.port)),
                        Replica(store: second, client: clientB, port: try #require(clientB.port))
                    )
                }
            }
        }
        await first.shutdown()
        await second.shutdown()
        try outcome.get()
    }

    static func waitUntilListening(_ replicas: Replica..., within limit: Duration = .seconds(5)) async throws {
        let listening = await waitUntil(within: limit) { replicas.allSatisfy(\.store.isListeningForEvents) }
        try #require(listening, "a replica's listener did not subscribe within \(limit)")
    }

    static func waitUntil(within limit: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}

/// An SSE client on one replica that records when each event id arrived.
final class LiveStream: Sendable {
    private final class Log: Sendable {
        let arrivals = Mutex<[(id: Int64, at: ContinuousClock.Instant)]>([])
    }

    private let log = Log()
    private let task: Task<Void, Never>

    init(port: Int, sessionId: String) {
        let log = self.log
        task = Task {
            _ = try? await SSEReader.read(
                port: port, path: "/api/sessions/\(sessionId)/events/stream", untilID: .max, timeout: .seconds(120),
                onID: { id in log.arrivals.withLock { $0.append((id, .now)) } }
            )
        }
    }

    var ids: [Int64] { log.arrivals.withLock { $0.map(\.id) } }

    /// When event `id` arrived, waiting up to `limit` for it; nil if it did not.
    func arrival(of id: Int64, within limit: Duration) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let found = log.arrivals.withLock({ $0.first(where: { $0.id == id })?.at }) { return found }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    func stop() { task.cancel() }
}

/// p50, p95 and the maximum of a set of delivery latencies.
struct LatencyFigures: CustomStringConvertible {
    let p50: Duration
    let p95: Duration
    let max: Duration

    init(_ latencies: [Duration]) {
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Duration {
            guard !sorted.isEmpty else { return .zero }
            return sorted[Swift.max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
        }
        p50 = percentile(0.50)
        p95 = percentile(0.95)
        max = sorted.last ?? .zero
    }

    var description: String {
        func ms(_ duration: Duration) -> String { String(format: "%.1f ms", Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000) }
        return "p50 \(ms(p50)), p95 \(ms(p95)), max \(ms(max))"
    }
}
