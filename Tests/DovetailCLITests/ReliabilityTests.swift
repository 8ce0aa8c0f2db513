import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fault scenarios against real `dovetail serve` processes (docs/reliability.md): a server killed with SIGKILL in the
/// middle of 500 concurrent writes loses none it acknowledged, and two servers starting together on one fresh database
/// apply each migration once. Each runs on a SQLite file and on PostgreSQL.
@Suite("Reliability: real serve processes killed and raced", .serialized)
struct ReliabilityTests {
    static let writes = 500
    /// The server is killed once this many writes have been acknowledged: well inside the run, with hundreds in flight.
    static let killAfterAcknowledged = 200
    /// 500 with the usual limits; a quarter of the open-file limit when that is lower (256 for a soft limit of 1024).
    static var connections: Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 64 }
        return min(writes, max(32, Int(min(limit.rlim_cur, 1 << 20)) / 4))
    }

    /// 500 concurrent writes — cards on two boards and messages in two sessions — and SIGKILL after the 200th
    /// acknowledgement. After a restart on the same database every write that got a 2xx is there, exactly once; the
    /// boards' positions and the sessions' ordinals are still dense and unique; and the restarted server appends
    /// after them.
    @Test(arguments: TestBackend.persistent)
    func sigkillDuringConcurrentWritesLosesNoAcknowledgedWrite(_ backend: TestBackend) async throws {
        try await TestSupport.withDatabaseURL(backend) { url in
            let databaseURL = try #require(url.environmentValue)
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            // One connection per write, so that all 500 are in flight at once (the server queues them for its pool),
            // unless the open-file limit is low: this process runs other tests beside this one.
            let client = LoadClient(maximumConnections: Self.connections)
            let clock = ContinuousClock()
            let started = clock.now

            let first = try ServeProcess(databaseURL: databaseURL, directory: directory, name: "serve-1")
            try await first.waitUntilHealthy()
            let tag = UUID().uuidString.prefix(8).lowercased()
            var projects: [String] = []
            var sessions: [String] = []
            for board in 0..<2 {
                let project = try await client.json("POST", "\(first.baseURL)/api/projects", body: ["name": "kill \(tag) \(board)", "slug": "kill-\(tag)-\(board)"])
                let projectID = try #require(project.string("id"))
                projects.append(projectID)
                let session = try await client.json("POST", "\(first.baseURL)/api/sessions", body: ["project_id": projectID, "title": "kill \(board)"])
                sessions.append(try #require(session.string("id")))
            }

            let boards = projects
            let conversations = sessions
            // Write i goes to board i % 2 (a card) when i % 4 < 2, else to session i % 2 (a message).
            let ledger = WriteLedger(killAfter: Self.killAfterAcknowledged, server: first, clock: clock)
            let loadStarted = clock.now
            await ledger.start(at: loadStarted)
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<Self.writes {
                    group.addTask {
                        let marker = "w-\(tag)-\(index)"
                        let isTask = index % 4 < 2
                        let request: (String, [String: String]) = isTask
                            ? ("\(first.baseURL)/api/tasks", ["project_id": boards[index % 2], "title": marker])
                            : ("\(first.baseURL)/api/sessions/\(conversations[index % 2])/messages", ["role": "user", "content": marker])
                        do {
                            let body = try JSONSerialization.data(withJSONObject: request.1)
                            let (status, answer) = try await client.send("POST", request.0, body: body)
                            if (200..<300).contains(status), let object = try? JSONObject(answer), let id = object.string("id") {
                                await ledger.acknowledged(marker: marker, id: id)
                            } else {
                                await ledger.refused(status: status, body: String(decoding: answer, as: UTF8.self))
                            }
                        } catch {
                            await ledger.failed()
                        }
                    }
                }
            }
            first.sigkill()  // in case fewer than killAfter were acknowledged
            first.waitUntilExit()
            let outcome = await ledger.outcome
            #expect(outcome.killedAfter != nil, "the server was never killed mid-run: \(outcome.acknowledged.count) acknowledged")
            #expect(outcome.failed > 0, "no write failed: the kill came after the last write, not during the run")
            #expect(outcome.refused.isEmpty, "writes answered with an error status before the kill: \(outcome.refused.prefix(5))")

            let second = try ServeProcess(databaseURL: databaseURL, directory: directory, name: "serve-2")
            defer { second.stop() }
            try await second.waitUntilHealthy()

            var present: [String: String] = [:]  // marker -> id
            var duplicates: [String] = []
            for project in projects {
                let cards = try await client.allItems("\(second.baseURL)/api/tasks?project_id=\(project)")
                let positions = cards.filter { $0.string("column") == "backlog" }.compactMap { $0.int("position") }.sorted()
                #expect(positions == Array(0..<cards.count), "board \(project): positions \(positions) are not 0..<\(cards.count)")
                for card in cards {
                    guard let title = card.string("title"), let id = card.string("id") else { continue }
                    if present.updateValue(id, forKey: title) != nil { duplicates.append(title) }
                }
            }
            for session in sessions {
                let messages = try await client.allItems("\(second.baseURL)/api/sessions/\(session)/messages")
                let ordinals = messages.compactMap { $0.int("ordinal") }.sorted()
                #expect(ordinals == Array(1..<(messages.count + 1)), "session \(session): ordinals \(ordinals) are not 1...\(messages.count)")
                for message in messages {
                    guard let content = message.string("content"), let id = message.string("id") else { continue }
                    if present.updateValue(id, forKey: content) != nil { duplicates.append(content) }
                }
            }
            #expect(duplicates.isEmpty, "written twice: \(duplicates.prefix(10))")
            let lost = outcome.acknowledged.filter { present[$0.key] != $0.value }
            #expect(lost.isEmpty, "\(lost.count) acknowledged writes missing after the restart: \(lost.keys.sorted().prefix(10))")

            // The restarted server appends after what survived: one more card per board lands at the end, densely.
            for project in projects {
                let before = try await client.allItems("\(second.baseURL)/api/tasks?project_id=\(project)").count
                let card = try await client.json("POST", "\(second.baseURL)/api/tasks", body: ["project_id": project, "title": "after restart"])
                #expect(card.int("position") == before)
            }

            let inFlightCommitted = present.count - outcome.acknowledged.count
            print(
                "reliability[kill-9, \(backend)]: \(Self.writes) writes, \(outcome.acknowledged.count) acknowledged, "
                    + "\(present.count) present (\(inFlightCommitted) committed but unacknowledged), \(lost.count) lost, "
                    + "\(outcome.failed) failed by the kill; SIGKILL at \(outcome.killedAfter.map { "\($0.milliseconds) ms" } ?? "-") "
                    + "after the first write with \(outcome.acknowledgedAtKill) acknowledged; whole test \(started.duration(to: clock.now).milliseconds) ms"
            )
        }
    }

    /// Two `dovetail serve` processes started at the same moment on one fresh database: both come up and answer
    /// /health, and schema_migrations records each migration once.
    @Test(arguments: TestBackend.persistent)
    func twoServersStartingTogetherMigrateOnce(_ backend: TestBackend) async throws {
        try await TestSupport.withDatabaseURL(backend) { url in
            let databaseURL = try #require(url.environmentValue)
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let servers = try [
                ServeProcess(databaseURL: databaseURL, directory: directory, name: "serve-a"),
                ServeProcess(databaseURL: databaseURL, directory: directory, name: "serve-b"),
            ]
            defer { servers.forEach { $0.stop() } }
            for server in servers {
                try await server.waitUntilHealthy()
                let (status, body) = try await httpGet("\(server.baseURL)/health")
                #expect(status == 200, "\(body)")
            }
            // Both serve writes on the migrated schema.
            let client = LoadClient()
            for (index, server) in servers.enumerated() {
                _ = try await client.json("POST", "\(server.baseURL)/api/projects", body: ["name": "race \(index)"])
            }

            let store = try await Store.open(url, logger: TestSupport.logger)
            let versions = try await TestSupport.capture {
                try await store.database.read { sql in
                    try await sql.raw("SELECT version FROM schema_migrations ORDER BY version").all().map { try $0.decode(column: "version", as: Int.self) }
                }
            }
            await store.shutdown()
            #expect(try versions.get() == Migrations.all.map(\.version).sorted(), "logs:\n\(servers.map(\.log).joined(separator: "\n---\n"))")
        }
    }
}

/// What happened to each write of the kill test, and the kill itself.
actor WriteLedger {
    struct Outcome: Sendable {
        var acknowledged: [String: String]
        var refused: [String]
        var failed: Int
        var killedAfter: Duration?
        var acknowledgedAtKill: Int
    }

    private let killAfter: Int
    private let server: ServeProcess
    private let clock: ContinuousClock
    private var startedAt: ContinuousClock.Instant?
    private var acknowledgedWrites: [String: String] = [:]
    private var refusedWrites: [String] = []
    private var failedWrites = 0
    private var killedAfter: Duration?
    private var acknowledgedAtKill = 0

    init(killAfter: Int, server: ServeProcess, clock: ContinuousClock) {
        self.killAfter = killAfter
        self.server = server
        self.clock = clock
    }

    func start(at instant: ContinuousClock.Instant) { startedAt = instant }

    func acknowledged(marker: String, id: String) {
        acknowledgedWrites[marker] = id
        if acknowledgedWrites.count >= killAfter, killedAfter == nil {
            server.sigkill()
            killedAfter = startedAt.map { $0.duration(to: clock.now) }
            acknowledgedAtKill = acknowledgedWrites.count
        }
    }

    func refused(status: Int, body: String) { refusedWrites.append("\(status): \(body.prefix(200))") }

    func failed() { failedWrites += 1 }

    var outcome: Outcome {
        Outcome(
            acknowledged: acknowledgedWrites, refused: refusedWrites, failed: failedWrites,
            killedAfter: killedAfter, acknowledgedAtKill: acknowledgedAtKill
        )
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
