import DovetailStore
import DovetailTesting
import Foundation
import Testing

/// `dovetail postgres …` and `dovetail serve --managed-postgres` as a user runs them, on a real native server.
@Suite("dovetail postgres")
struct PostgresCommandTests {
    @Test
    func initStatusURLServeLogsStopAndPurge() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let cli = CLIRunner(directory: URL(fileURLWithPath: sandbox.directory))

            let initialised = try await cli.run("postgres", "init", "--engine", "native", "--port", String(sandbox.port))
            #expect(initialised.status == 0, "\(initialised.all)")
            let env = try EnvironmentFile.load(path: sandbox.directory + "/.env")
            let password = try #require(env["POSTGRES_PASSWORD"])
            #expect(initialised.stdout.contains("accepts connections on 127.0.0.1:\(sandbox.port)"), "\(initialised.stdout)")
            #expect(initialised.stdout.contains("DATABASE_URL=postgresql://"))

            let json = try await cli.run("postgres", "status", "--json")
            #expect(json.status == 0, "\(json.all)")
            let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            #expect(report?["healthy"] as? Bool == true)
            #expect(report?["accepting_connections"] as? Bool == true)
            #expect(report?["credentials_valid"] as? Bool == true)
            #expect(report?["engine"] as? String == "native")

            let text = try await cli.run("postgres", "status")
            #expect(text.status == 0)
            #expect(text.stdout.contains("accepting connections: yes"))
            #expect(text.stdout.contains("status: healthy"))

            let url = try await cli.run("postgres", "url")
            #expect(url.stdout.contains(":***@127.0.0.1:\(sandbox.port)/dovetail"))
            let shown = try await cli.run("postgres", "url", "--show-password")
            #expect(shown.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == env["DATABASE_URL"])

            let twice = try await cli.run("postgres", "init", "--engine", "native", "--port", String(sandbox.port))
            #expect(twice.status == 1)
            #expect(twice.stderr.contains("already initialised"))

            #expect(try await cli.run("postgres", "stop").status == 0)
            let stopped = try await cli.run("postgres", "status")
            #expect(stopped.status == 1, "status exits non-zero while the server is stopped")
            #expect(stopped.stdout.contains("server running: no"))

            // serve starts the stopped server and serves from it.
            let httpPort = try TestSupport.freePort()
            let (process, _, errors) = cli.makeProcess(["serve", "--managed-postgres", "--port", String(httpPort)])
            try process.run()
            var health: (Int, String) = (0, "")
            for _ in 0..<300 {
                if let answer = try? await httpGet("http://127.0.0.1:\(httpPort)/health") {
                    health = answer
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            process.terminate()
            process.waitUntilExit()
            let serveLog = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(health.0 == 200, "serve --managed-postgres did not answer /health: \(health) \(serveLog)")
            #expect(health.1.contains("\"backend\":\"postgres\""))
            #expect(!serveLog.contains(password))
            #expect(try await cli.run("postgres", "status").status == 0, "the managed server keeps running after serve stops")

            let logs = try await cli.run("postgres", "logs", "--tail", "5")
            #expect(logs.status == 0)
            #expect(!logs.stdout.isEmpty && logs.stdout.split(separator: "\n").count <= 5)

            let declined = try await Self.run(cli, input: "no\n", ["postgres", "stop", "--purge"])
            #expect(declined.status == 1)
            #expect(declined.stderr.contains("not confirmed"))
            #expect(FileManager.default.fileExists(atPath: sandbox.directory + "/data/postgres/pgdata"))

            let purged = try await cli.run("postgres", "stop", "--purge", "--yes")
            #expect(purged.status == 0, "\(purged.all)")
            #expect(!FileManager.default.fileExists(atPath: sandbox.directory + "/data/postgres"))

            for outcome in [initialised, json, text, url, twice, stopped, logs, declined, purged] {
                #expect(!outcome.all.contains(password), "a password was printed")
            }
        }
    }

    @Test
    func commandsBeforeInitFailWithAdvice() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let cli = CLIRunner(directory: URL(fileURLWithPath: sandbox.directory))
            let start = try await cli.run("postgres", "start")
            #expect(start.status == 1)
            #expect(start.stderr.contains("dovetail postgres init"))
            let status = try await cli.run("postgres", "status", "--json")
            #expect(status.status == 1)
            let engineIsDocker = try await cli.run("postgres", "init", "--engine", "docker", "--run-as", "postgres")
            #expect(engineIsDocker.status != 0)
            #expect(engineIsDocker.stderr.contains("--run-as applies to the native engine only"))
        }
    }

    /// Runs the CLI with `input` on standard input.
    static func run(_ cli: CLIRunner, input: String, _ arguments: [String]) async throws -> CLIRunner.Outcome {
        let (process, out, err) = cli.makeProcess(arguments)
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let stdout = Task { await TestSupport.blocking { out.fileHandleForReading.readDataToEndOfFile() } }
        let stderr = Task { await TestSupport.blocking { err.fileHandleForReading.readDataToEndOfFile() } }
        let outData = await stdout.value
        let errData = await stderr.value
        process.waitUntilExit()
        return CLIRunner.Outcome(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self)
        )
    }
}
