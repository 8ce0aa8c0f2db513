import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

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
        let cli = CLIRunner(directory: directory, environment: ["DATABASE_URL": "postgresql://app:hunter2-pw@127.0.0.1:\(try TestSupport.freePort())/app"])
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
        let port = try TestSupport.freePort()
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

@Suite("dovetail tokens, purge and authenticated serve")
struct TokenAndPurgeCLITests {
    @Test
    func tokensCreateListRevoke() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cli = CLIRunner(directory: directory)
        let created = try await cli.run("tokens", "create", "--name", "deploy-bot", "--scope", "write", "--expires", "30d")
        #expect(created.status == 0, "\(created.all)")
        let secret = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(secret.hasPrefix("dvt_"))
        #expect(created.stderr.contains("cannot be shown again"))

        let listed = try await cli.run("tokens", "list")
        #expect(listed.stdout.contains("deploy-bot"))
        #expect(listed.stdout.contains("active"))
        #expect(!listed.all.contains(secret), "the secret is shown once only")

        #expect(try await cli.run("tokens", "revoke", "deploy-bot").status == 0)
        #expect(try await cli.run("tokens", "list").stdout.contains("revoked"))
        #expect(try await cli.run("tokens", "revoke", "nobody").status == 1)
        #expect(try await cli.run("tokens", "create", "--name", "x", "--scope", "root").status != 0)
        #expect(try await cli.run("tokens", "create", "--name", "x", "--scope", "read", "--expires", "soon").status != 0)
    }

    @Test
    func serveRefusesAPublicAddressWithoutATokenAndSaysHowToMakeOne() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let outcome = try await CLIRunner(directory: directory).run("serve", "--host", "0.0.0.0", "--port", String(try TestSupport.freePort()), "--wait-timeout", "5")
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("dovetail tokens create"))
    }

    @Test
    func serveOnAPublicAddressRequiresTheToken() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cli = CLIRunner(directory: directory)
        let secret = try await cli.run("tokens", "create", "--name", "reader", "--scope", "read").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let port = try TestSupport.freePort()
        let (process, _, _) = cli.makeProcess(["serve", "--host", "0.0.0.0", "--port", String(port)])
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        var health = 0
        for _ in 0..<100 where health != 200 {
            health = (try? await httpGet("http://127.0.0.1:\(port)/health"))?.0 ?? 0
            if health != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(health == 200)
        #expect(try await httpGet("http://127.0.0.1:\(port)/api/projects").0 == 401)
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/api/projects")!)
        request.setValue("Bearer \(secret)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
    }

    @Test
    func purgeDryRunCountsAndPurgeDeletes() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cli = CLIRunner(directory: directory)
        #expect(try await cli.run("db", "migrate").status == 0)
        let url = DatabaseURL.sqlite(.file(path: directory.appendingPathComponent("data/dovetail.db").path))
        let store = try await Store.open(url, logger: TestSupport.logger)
        let project = try await store.projects.create(NewProject(name: "P"))
        let session = try await store.sessions.create(NewSession(projectId: project.id))
        _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "old"))
        try await store.database.write { sql in
            try await sql.raw("UPDATE session_events SET created_at = \(bind: Timestamp.now().adding(seconds: -100 * 86_400))").run()
        }
        await store.shutdown()

        let dry = try await cli.run("db", "purge", "--dry-run", "--json")
        #expect(dry.status == 0, "\(dry.all)")
        #expect(dry.stdout.contains("\"events\":1"))
        #expect(dry.stdout.contains("\"dry_run\":true"))
        let real = try await cli.run("db", "purge")
        #expect(real.stdout.contains("session events:   1"))
        #expect(try await cli.run("db", "purge", "--dry-run", "--json").stdout.contains("\"events\":0"))
    }
}
