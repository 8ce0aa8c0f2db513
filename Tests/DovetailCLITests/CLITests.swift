import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

@Suite("The dovetail command line")
struct CLITests {
    /// status exits 1 while migrations are pending, migrate applies them, check reports drift.
    @Test(arguments: TestBackend.persistent)
    func migrateStatusAndCheck(_ backend: TestBackend) async throws {
        try await TestSupport.withDatabaseURL(backend) { url in
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let urlString: String
            switch url {
            case .sqlite(.file(let path)): urlString = "sqlite:///" + path
            case .postgres(let info): urlString = info.urlString
            default: Issue.record("unexpected URL"); return
            }
            let cli = CLIRunner(directory: directory, environment: ["DATABASE_URL": urlString])

            let pending = try await cli.run("db", "status")
            #expect(pending.status == 1, "\(pending.all)")
            #expect(pending.stdout.contains("pending 1 core_schema"))

            let migrate = try await cli.run("db", "migrate")
            #expect(migrate.status == 0, "\(migrate.all)")
            #expect(migrate.stdout.contains("Applied 1 core_schema"))

            let status = try await cli.run("db", "status", "--json")
            #expect(status.status == 0, "\(status.all)")
            let json = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
            #expect(json?["up_to_date"] as? Bool == true)
            #expect(json?["current_version"] as? Int == Migrations.latestVersion)
            if case .postgres(let info) = url, let password = info.password {
                #expect(!status.all.contains(password), "status output must not show the password")
                #expect(!migrate.all.contains(password))
            }

            #expect(try await cli.run("db", "check").status == 0)
            let store = try await Store.open(url, logger: TestSupport.logger)
            try await store.database.write { sql in try await sql.raw("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1").run() }
            await store.shutdown()
            let drift = try await cli.run("db", "check")
            #expect(drift.status == 1)
            #expect(drift.stdout.contains("DRIFT migration 1"))
            #expect(try await cli.run("db", "status").status == 1)
            #expect(try await cli.run("db", "migrate").status == 1)
        }
    }

    @Test
    func badConfigurationIsOneLineWithThePasswordMasked() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cli = CLIRunner(directory: directory)
        let malformed = try await cli.run("db", "status", "--database-url", "postgresql://app:s3cr@t@db.example:5432/app")
        #expect(malformed.status == 2)
        #expect(!malformed.all.contains("s3cr"))
        #expect(malformed.stderr.split(separator: "\n").count == 1, "\(malformed.stderr)")
        #expect(malformed.stderr.contains("percent-encode") || malformed.stderr.contains("%40"))

        let scheme = try await cli.run("db", "status", "--database-url", "mysql://u:topsecret@h/db")
        #expect(scheme.status == 2)
        #expect(!scheme.all.contains("topsecret"))

        let mismatch = try await CLIRunner(directory: directory, environment: ["DB_MODE": "postgres"]).run("db", "status")
        #expect(mismatch.status == 2)
        #expect(mismatch.stderr.contains("DB_MODE"))
    }

    @Test
    func waitTimesOutWithTheLastErrorAndNoPassword() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cli = CLIRunner(directory: directory, environment: ["DATABASE_URL": "postgresql://app:hunter2-pw@127.0.0.1:\(try freePort())/app"])
        let outcome = try await cli.run("db", "wait", "--timeout", "2")
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("last error"))
        #expect(outcome.stdout.contains("attempt 1"))
        #expect(!outcome.all.contains("hunter2-pw"))
    }

    @Test
    func waitSucceedsOnAReachableServer() async throws {
        try await TestSupport.withDatabaseURL(.postgres) { url in
            guard case .postgres(let info) = url else { return }
            let cli = CLIRunner(directory: try CLIRunner.temporaryDirectory(), environment: ["DATABASE_URL": info.urlString])
            let outcome = try await cli.run("db", "wait", "--timeout", "10")
            #expect(outcome.status == 0, "\(outcome.all)")
            #expect(outcome.stdout.contains("Database is ready"))
        }
    }

    /// The README's first command: `dovetail serve` creates and migrates ./data/dovetail.db, answers
    /// /health, and exits 0 promptly on SIGTERM.
    @Test
    func serveStartsOnDefaultSQLiteAndStopsOnSIGTERM() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = try freePort()
        let (process, out, err) = CLIRunner(directory: directory).makeProcess(["serve", "--port", String(port)])
        try process.run()
        var health: (Int, String) = (0, "")
        for _ in 0..<100 {
            if let answer = try? await httpGet("http://127.0.0.1:\(port)/health") {
                health = answer
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(health.0 == 200, "serve did not answer /health: \(health)")
        #expect(health.1.contains("\"backend\":\"sqlite\""))
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("data/dovetail.db").path))

        let clock = ContinuousClock()
        let start = clock.now
        process.terminate()
        process.waitUntilExit()
        #expect(start.duration(to: clock.now) < .seconds(10))
        #expect(process.terminationStatus == 0, "stderr: \(String(decoding: err.fileHandleForReading.availableData, as: UTF8.self))")
        _ = out
    }
}

@Suite("Concurrent dovetail db migrate processes")
struct ConcurrentMigrateProcessTests {
    /// Two `dovetail db migrate` processes started at the same moment: both succeed and each
    /// migration is recorded once.
    @Test(arguments: TestBackend.persistent)
    func twoProcessesApplyEachMigrationOnce(_ backend: TestBackend) async throws {
        try await TestSupport.withDatabaseURL(backend) { url in
            let urlString: String
            switch url {
            case .sqlite(.file(let path)): urlString = "sqlite:///" + path
            case .postgres(let info): urlString = info.urlString
            default: return
            }
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let cli = CLIRunner(directory: directory, environment: ["DATABASE_URL": urlString])
            async let first = cli.run("db", "migrate")
            async let second = cli.run("db", "migrate")
            let outcomes = try await [first, second]
            #expect(outcomes.allSatisfy { $0.status == 0 }, "\(outcomes.map(\.all))")
            #expect(outcomes.filter { $0.stdout.contains("Applied 1 core_schema") }.count == 1, "\(outcomes.map(\.stdout))")
            let store = try await Store.open(url, logger: TestSupport.logger)
            let versions = try await store.database.read { sql in
                try await sql.raw("SELECT version FROM schema_migrations").all().map { try $0.decode(column: "version", as: Int.self) }
            }
            await store.shutdown()
            #expect(versions == Migrations.all.map(\.version))
        }
    }
}
