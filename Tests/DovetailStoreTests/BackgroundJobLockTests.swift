import DovetailStore
import DovetailTesting
import Foundation
import Testing

/// `BackgroundJobLock`: on PostgreSQL one holder per job and database, handed over when the holder lets go or its
/// session ends; on SQLite always held. The two-process version is `BackgroundJobTests` (CLI tests).
@Suite("Background job locks")
struct BackgroundJobLockTests {
    @Test
    func onePostgresHolderPerJobUntilItLetsGo() async throws {
        try await TestSupport.withDatabaseURL(.postgres) { url in
            let first = try await Store.open(url, logger: TestSupport.logger)
            let second = try await Store.open(url, logger: TestSupport.logger)
            let outcome = await TestSupport.capture {
                let a = first.database.backgroundJobLock(.retention, logger: TestSupport.logger)
                let b = second.database.backgroundJobLock(.retention, logger: TestSupport.logger)
                #expect(await a.acquire())
                #expect(await !b.acquire(), "a second replica must not run the job while the first holds it")
                #expect(await a.acquire(), "the holder keeps it from cycle to cycle")
                #expect(await !b.acquire())
                // Another job is another lock.
                let spares = second.database.backgroundJobLock(.agentSpareDatabases, logger: TestSupport.logger)
                #expect(await spares.acquire())
                await spares.release()

                await a.release()
                #expect(await b.acquire(), "released (a graceful stop), the lock goes to the next replica that asks")
                #expect(await !a.acquire())
                await b.release()
            }
            await first.shutdown()
            await second.shutdown()
            try outcome.get()
        }
    }

    /// A session that ends without a release (a restart of PostgreSQL here; a killed process alike) frees the lock,
    /// and the holder notices on its next cycle and takes it again when the server is back.
    @Test(.timeLimit(.minutes(2)))
    func aLostSessionIsNoticedAndTheLockRetaken() async throws {
        let server = try await PostgresTestServer.startDedicated()
        let result = await TestSupport.capture {
            let url = try DatabaseURL(parsing: try await server.createDatabase())
            let store = try await Store.open(url, logger: TestSupport.logger)
            let lock = store.database.backgroundJobLock(.retention, logger: TestSupport.logger)
            let outcome = await TestSupport.capture {
                #expect(await lock.acquire())
                try await server.stop()
                #expect(await !lock.acquire(), "with the server down nobody runs the job")
                try await server.start()
                var held = false
                for _ in 0..<40 where !held {
                    held = await lock.acquire()
                    if !held { try await Task.sleep(for: .milliseconds(250)) }
                }
                #expect(held)
                await lock.release()
            }
            await store.shutdown()
            try outcome.get()
        }
        await server.destroy()
        try result.get()
    }

    @Test
    func sqliteAlwaysRunsTheJob() async throws {
        try await TestSupport.withStore(.sqliteFile) { store in
            let a = store.database.backgroundJobLock(.retention, logger: TestSupport.logger)
            let b = store.database.backgroundJobLock(.retention, logger: TestSupport.logger)
            #expect(await a.acquire())
            #expect(await b.acquire())
            await a.release()
            await b.release()
        }
    }

    @Test
    func retentionIntervalIsReadInSeconds() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dovetail-interval-\(UUID().uuidString)").path
        #expect(try DovetailConfiguration.load(environment: [:], directory: directory).retentionInterval == .seconds(3600))
        #expect(try DovetailConfiguration.load(environment: ["RETENTION_INTERVAL": "0.5"], directory: directory).retentionInterval == .milliseconds(500))
        #expect(throws: ConfigurationError.self) { try DovetailConfiguration.load(environment: ["RETENTION_INTERVAL": "0"], directory: directory) }
        #expect(throws: ConfigurationError.self) { try DovetailConfiguration.load(environment: ["RETENTION_INTERVAL": "hourly"], directory: directory) }
    }
}
