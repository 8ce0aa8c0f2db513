import Synchronization
import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

@Suite("Backend set-up and faults")
struct BackendBehaviourTests {
    @Test
    func sqliteFileUsesWALAndForeignKeys() async throws {
        try await TestSupport.withStore(.sqliteFile) { store in
            let mode = try await store.database.read { sql in
                try await sql.raw("PRAGMA journal_mode").first()?.decode(column: "journal_mode", as: String.self)
            }
            #expect(mode == "wal")
            let foreignKeys = try await store.database.write { sql in
                try await sql.raw("PRAGMA foreign_keys").first()?.decode(column: "foreign_keys", as: Int.self)
            }
            #expect(foreignKeys == 1)
        }
    }

    @Test
    func postgresSessionsCarryApplicationNameTimeZoneAndTimeouts() async throws {
        try await TestSupport.withStore(.postgres) { store in
            let row = try await store.database.read { sql in
                try await sql.raw("""
                    SELECT current_setting('application_name') AS app, current_setting('TimeZone') AS tz,
                           current_setting('statement_timeout') AS st, current_setting('idle_in_transaction_session_timeout') AS idle
                    """).first()
            }
            let found = try #require(row)
            #expect(try found.decode(column: "app", as: String.self) == "dovetail")
            #expect(try found.decode(column: "tz", as: String.self) == "UTC")
            #expect(try found.decode(column: "st", as: String.self) == "2min")
            #expect(try found.decode(column: "idle", as: String.self) == "1min")
        }
    }

    /// A committed write survives the server going away; requests during the outage fail fast as
    /// `unavailable`; once it is back the same store works again without being reopened.
    @Test
    func postgresOutageIsUnavailableAndReconnectsAfterRestart() async throws {
        let server = try await PostgresTestServer.startDedicated()
        do {
            let url = try DatabaseURL(parsing: try await server.createDatabase())
            var pool = PoolSettings()
            pool.timeout = .seconds(5)
            let store = try await Store.open(url, pool: pool, logger: TestSupport.logger)
            try await store.migrator.migrate(logger: TestSupport.logger)
            let project = try await store.projects.create(NewProject(name: "Before outage"))

            try await server.stop()
            let clock = ContinuousClock()
            for _ in 0..<3 {
                let started = clock.now
                do {
                    _ = try await store.projects.get(project.id)
                    Issue.record("a read during the outage must fail")
                } catch let error as StoreError {
                    #expect(error.kind == .unavailable)
                    #expect(!error.message.contains(server.superuserPassword))
                }
                #expect(started.duration(to: clock.now) < .seconds(8), "an outage must not hang a request")
            }

            try await server.start()
            var recovered: Project?
            for _ in 0..<40 where recovered == nil {
                recovered = try? await store.projects.get(project.id)
                if recovered == nil { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(recovered?.name == "Before outage")
            _ = try await store.projects.create(NewProject(name: "After outage"))
            #expect(try await store.projects.list().items.count == 2)
            await store.shutdown()
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }

    @Test
    func probeExplainsWrongPasswordWithoutShowingIt() async throws {
        let server = try await PostgresTestServer.shared()
        let secret = "not-the-password-9f3"
        let url = try DatabaseURL(parsing: "postgresql://\(server.superuser):\(secret)@\(server.host):\(server.port)/postgres")
        do {
            _ = try await DatabaseProbe.check(url, logger: TestSupport.logger)
            Issue.record("a wrong password must fail")
        } catch let error as StoreError {
            #expect(error.message.contains("wrong password"))
            #expect(!error.message.contains(secret))
        }
    }

    @Test
    func probeExplainsMissingDatabase() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try DatabaseURL(parsing: server.url(database: "no_such_db_here"))
        do {
            _ = try await DatabaseProbe.check(url, logger: TestSupport.logger)
            Issue.record("a missing database must fail")
        } catch let error as StoreError {
            #expect(error.message.contains("does not exist"))
            #expect(!error.message.contains(server.superuserPassword))
        }
    }

    @Test
    func waitGivesUpWithTheLastErrorWhenNothingListens() async throws {
        let url = try DatabaseURL(parsing: "postgresql://dovetail:secret-pw@127.0.0.1:1/dovetail")
        var waiter = DatabaseWaiter(timeout: .seconds(6))
        waiter.initialDelay = .milliseconds(100)
        let attempts = AttemptCounter()
        do {
            _ = try await waiter.wait(for: url, logger: TestSupport.logger) { _, _, _ in attempts.increment() }
            Issue.record("nothing listens on port 1")
        } catch let error as StoreError {
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("127.0.0.1:1"))
            #expect(!error.message.contains("secret-pw"))
        }
    }

    @Test
    func backoffDoublesAndIsCappedAtThirtySeconds() {
        let waiter = DatabaseWaiter(timeout: .seconds(600))
        #expect(waiter.delay(afterAttempt: 1) == .milliseconds(250))
        #expect(waiter.delay(afterAttempt: 2) == .milliseconds(500))
        #expect(waiter.delay(afterAttempt: 3) == .seconds(1))
        #expect(waiter.delay(afterAttempt: 10) == .seconds(30))
        #expect(waiter.delay(afterAttempt: 60) == .seconds(30))
    }

    @Test
    func timestampsKeepMillisecondsAndSortAsText() throws {
        let a = Timestamp(millisecondsSince1970: 1_700_000_000_123)
        #expect(a.iso8601 == "2023-11-14T22:13:20.123Z")
        #expect(Timestamp(iso8601: a.iso8601) == a)
        let b = Timestamp(millisecondsSince1970: 1_700_000_000_124)
        #expect(a.iso8601 < b.iso8601)
    }

    @Test
    func uuidv7IdsIncreaseWithinOneMillisecond() {
        let ids = (0..<1000).map { _ in UUIDv7.generate() }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 36 && Array($0)[14] == "7" })
    }
}

final class AttemptCounter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
