import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

/// Issue 12, "background work runs once, not N times": two real `serve` processes on one PostgreSQL purge
/// history every half second (`RETENTION_INTERVAL=0.5`), yet only the one holding the retention lock purges;
/// killed with SIGKILL, the other takes over on its next cycle and really purges.
///
/// What is observed: each process logs "Purged history" once per purge it runs (zero rows included), so the
/// lines in each process's own log count its purges.
@Suite("Background jobs run in one replica at a time", .serialized)
struct BackgroundJobTests {
    static let purgeLine = "Purged history"
    static let takeOverLine = "runs the retention job for all replicas"

    @Test(.timeLimit(.minutes(3)))
    func onlyTheLockHolderPurgesAndAnotherTakesOverWhenItIsKilled() async throws {
        try await TestSupport.withDatabaseURL(.postgres) { url in
            let databaseURL = try #require(url.environmentValue)
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let environment = ["RETENTION_INTERVAL": "0.5", "HISTORY_RETENTION_DAYS": "1"]
            let first = try ServeProcess(databaseURL: databaseURL, directory: directory, name: "replica-1", environment: environment)
            try await first.waitUntilHealthy()
            let second = try ServeProcess(databaseURL: databaseURL, directory: directory, name: "replica-2", environment: environment)
            try await second.waitUntilHealthy()

            // Six cycles of both replicas.
            try await Task.sleep(for: .seconds(3))
            let counts = [first, second].map { Self.count(Self.purgeLine, in: $0.log) }
            let holders = [first, second].filter { Self.count(Self.takeOverLine, in: $0.log) > 0 }
            #expect(holders.count == 1, "exactly one replica should hold the retention lock; purges per replica: \(counts)")
            #expect(counts.filter { $0 > 0 }.count == 1, "exactly one replica should purge, yet purges per replica are \(counts)")
            #expect(counts.max() ?? 0 >= 3, "the holder should purge every half second: \(counts)")
            let holder = try #require(holders.first)
            let standby = holder === first ? second : first
            #expect(Self.count(Self.purgeLine, in: standby.log) == 0)

            holder.sigkill()
            holder.waitUntilExit()
            // An event from before the cutoff, written after the holder died: only a replica that took over removes it.
            let store = try await Store.open(url, logger: TestSupport.logger)
            let eventID: String
            do {
                let project = try await store.projects.create(NewProject(name: "Retention takeover"))
                let session = try await store.sessions.create(NewSession(projectId: project.id))
                eventID = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "old")).id
                try await store.database.write { sql in
                    try await sql.raw("UPDATE session_events SET created_at = \(bind: Timestamp.now().adding(seconds: -2 * 86_400)) WHERE id = \(bind: eventID)").run()
                }
            } catch {
                await store.shutdown()
                throw error
            }

            let clock = ContinuousClock()
            let deadline = clock.now.advanced(by: .seconds(20))
            var remaining = 1
            while clock.now < deadline {
                remaining = try await store.database.read { sql in
                    try await sql.raw("SELECT COUNT(*) AS n FROM session_events WHERE id = \(bind: eventID)").first()?.decode(column: "n", as: Int.self) ?? 0
                }
                if remaining == 0 { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            await store.shutdown()
            #expect(remaining == 0, "the surviving replica should purge on its next cycle; its log:\n\(standby.log.suffix(3000))")
            #expect(Self.count(Self.takeOverLine, in: standby.log) == 1, "the survivor should say it took the job over")
            #expect(Self.count(Self.purgeLine, in: standby.log) > 0)
            #expect(standby.log.contains("events=1"), "the survivor's purge should have removed the old event")
            standby.stop()
        }
    }

    /// SQLite is one process's file: the job runs without any lock (and without touching PostgreSQL).
    @Test(.timeLimit(.minutes(2)))
    func onSQLiteTheJobJustRuns() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("dovetail.db").path
        let server = try ServeProcess(
            databaseURL: "sqlite:///" + path, directory: directory, name: "sqlite", environment: ["RETENTION_INTERVAL": "0.3"]
        )
        try await server.waitUntilHealthy()
        try await Task.sleep(for: .seconds(1.5))
        server.stop()
        #expect(Self.count(Self.purgeLine, in: server.log) >= 3, "\(server.log.suffix(2000))")
        #expect(Self.count(Self.takeOverLine, in: server.log) == 0)
    }

    static func count(_ needle: String, in log: String) -> Int {
        log.components(separatedBy: "\n").filter { $0.contains(needle) }.count
    }
}
