import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `dovetail --version`, `dovetail health` (the image's HEALTHCHECK) against real `serve` processes, readiness and
/// liveness through a PostgreSQL outage, and `serve` refusing a database migrated past what it knows.
@Suite("Health command, version and schema checks at start", .serialized)
struct HealthCommandTests {
    @Test
    func versionPrintsTheOneVersionConstant() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let outcome = try await CLIRunner(directory: directory).run("--version")
        #expect(outcome.status == 0)
        #expect(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == DovetailVersion.current)
    }

    /// 0 and one "healthy" line while the server answers (by --url, or by PORT as the container runs it); 1 and one
    /// "unhealthy" line naming the cause once it is stopped, or when the route answers something else than 200.
    @Test(.timeLimit(.minutes(2)))
    func exitCodesFollowTheServer() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try ServeProcess(
            databaseURL: "sqlite:///" + directory.appendingPathComponent("dovetail.db").path, directory: directory, name: "serve"
        )
        try await server.waitUntilHealthy()
        let cli = CLIRunner(directory: directory)
        let byURL = try await cli.run("health", "--url", server.baseURL)
        #expect(byURL.status == 0, "\(byURL.all)")
        #expect(byURL.stdout == "healthy: \(server.baseURL)/health/ready answered 200\n")
        let byPort = try await CLIRunner(directory: directory, environment: ["PORT": String(server.port), "HOST": "0.0.0.0"]).run("health", "--path", "/health/live")
        #expect(byPort.status == 0, "PORT from the environment, a wildcard HOST asked on 127.0.0.1: \(byPort.all)")
        try "PORT=\(server.port)\n".write(to: directory.appendingPathComponent(".env"), atomically: true, encoding: .utf8)
        let byDotEnv = try await cli.run("health")
        #expect(byDotEnv.status == 0, "PORT from .env: \(byDotEnv.all)")
        let notFound = try await cli.run("health", "--url", server.baseURL, "--path", "/no-such-route")
        #expect(notFound.status == 1)
        #expect(notFound.stdout.hasPrefix("unhealthy: ") && notFound.stdout.contains("answered 404"), "\(notFound.all)")

        server.stop()
        let stopped = try await cli.run("health", "--url", server.baseURL)
        #expect(stopped.status == 1, "\(stopped.all)")
        #expect(stopped.stdout.contains("connection refused"), "\(stopped.all)")
        #expect(stopped.stdout.components(separatedBy: "\n").filter { !$0.isEmpty }.count == 1, "one line: \(stopped.all)")
    }

    /// While PostgreSQL is stopped: readiness 503 (so `dovetail health` exits 1) and liveness still 200 (so an
    /// orchestrator does not restart a replica that restarting cannot fix); after it starts again, ready.
    @Test(.timeLimit(.minutes(4)))
    func readinessFollowsPostgreSQLAndLivenessDoesNot() async throws {
        let postgres = try await PostgresTestServer.startDedicated()
        let result = await TestSupport.capture {
            let databaseURL = try await postgres.createDatabase()
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let server = try ServeProcess(databaseURL: databaseURL, directory: directory, name: "serve", environment: ["POSTGRES_POOL_TIMEOUT": "5"])
            defer { server.stop() }
            try await server.waitUntilHealthy()
            let cli = CLIRunner(directory: directory)
            #expect(try await httpGet("\(server.baseURL)/health/ready").0 == 200)
            #expect(try await cli.run("health", "--url", server.baseURL).status == 0)

            try await postgres.stop()
            let notReady = try await Self.waitFor(status: 503, "\(server.baseURL)/health/ready", within: .seconds(30))
            #expect(notReady.status == 503, "readiness while PostgreSQL is stopped: \(notReady)")
            #expect(notReady.retryAfter != nil)
            #expect(notReady.body.contains("/problems/database-unavailable"), "\(notReady.body)")
            #expect(!notReady.body.contains(postgres.superuserPassword))
            for _ in 0..<3 {
                let live = try await httpGet("\(server.baseURL)/health/live")
                #expect(live.0 == 200, "liveness must not depend on the database: \(live)")
            }
            let unhealthy = try await cli.run("health", "--url", server.baseURL, "--timeout", "10")
            #expect(unhealthy.status == 1, "\(unhealthy.all)")
            #expect(unhealthy.stdout.contains("answered 503"), "\(unhealthy.all)")
            #expect(try await cli.run("health", "--url", server.baseURL, "--path", "/health/live").status == 0)

            try await postgres.start()
            let ready = try await Self.waitFor(status: 200, "\(server.baseURL)/health/ready", within: .seconds(30))
            #expect(ready.status == 200, "readiness after PostgreSQL is back: \(ready)")
            #expect(try await cli.run("health", "--url", server.baseURL).status == 0)
            #expect(try await httpGet("\(server.baseURL)/health/live").0 == 200)
        }
        await postgres.destroy()
        try result.get()
    }

    /// A database migrated by a newer dovetail (a schema_migrations row this binary does not know): `serve`
    /// refuses to start, with or without --no-migrate, and says which versions and what to do.
    @Test(.timeLimit(.minutes(2)), arguments: TestBackend.persistent)
    func serveRefusesADatabaseNewerThanItKnows(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let future = Migrations.latestVersion + 1
            try await store.database.write { sql in
                try await sql.raw("""
                    INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms)
                    VALUES (\(bind: future), 'from_a_newer_dovetail', 'unknown', \(bind: Timestamp.now()), 0)
                    """).run()
            }
            let databaseURL = try #require(store.database.url.environmentValue)
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let cli = CLIRunner(directory: directory, environment: ["DATABASE_URL": databaseURL])
            let expected = "The database is at schema \(future), this dovetail knows up to \(Migrations.latestVersion): upgrade dovetail"
            for noMigrate in [false, true] {
                let outcome = noMigrate ? try await cli.run("serve", "--port", "0", "--no-migrate") : try await cli.run("serve", "--port", "0")
                #expect(outcome.status == 1, "serve\(noMigrate ? " --no-migrate" : ""): \(outcome.all)")
                #expect(outcome.stderr.contains(expected), "serve\(noMigrate ? " --no-migrate" : ""): \(outcome.all)")
                #expect(!outcome.all.contains("Server started"), "it must not serve: \(outcome.all)")
            }
        }
    }

    struct Probe: CustomStringConvertible {
        var status: Int
        var retryAfter: String?
        var body: String
        var description: String { "\(status) Retry-After=\(retryAfter ?? "none") \(body.prefix(300))" }
    }

    /// Polls `url` until it answers `status` (or `within` passes) and returns the last answer.
    static func waitFor(status: Int, _ url: String, within: Duration) async throws -> Probe {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: within)
        var last = Probe(status: 0, body: "no answer")
        while clock.now < deadline {
            var request = URLRequest(url: URL(string: url)!)
            request.timeoutInterval = 10
            if let (data, response) = try? await URLSession.shared.data(for: request), let http = response as? HTTPURLResponse {
                last = Probe(status: http.statusCode, retryAfter: http.value(forHTTPHeaderField: "Retry-After"), body: String(decoding: data, as: UTF8.self))
                if last.status == status { return last }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        return last
    }
}
