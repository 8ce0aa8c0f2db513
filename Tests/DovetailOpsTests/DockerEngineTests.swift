import DovetailStore
import DovetailTesting
import Foundation
import Testing

@testable import DovetailOps

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// No Docker daemon runs on the build machines: these tests check the docker engine up to the exact `docker` commands
/// it runs (recorded by a fake runner that plays Docker) and the `compose.yml` it writes.
@Suite("Managed PostgreSQL, docker engine (commands and compose.yml)")
struct DockerEngineTests {
    /// Plays `docker`: answers `info`, `compose version`, `ps`, `logs`, and remembers whether `up` ran.
    final class FakeDocker: @unchecked Sendable {
        // @unchecked Sendable is safe: the mutable state is read and written only while `lock` is held.
        private let lock = NSLock()
        private var running = false
        private var installed = true
        private var daemonUp = true
        private var composeInstalled = true
        static let logLine = "postgres-1  | 2026-01-01 00:00:00.000 UTC [1] LOG:  a line of the container log"

        // Holds its fake strongly (a cycle, harmless in a test), so `FakeDocker().runner` stays valid.
        private(set) lazy var runner = RecordingCommandRunner { command in try self.answer(command) }

        func set(installed: Bool = true, daemonUp: Bool = true, composeInstalled: Bool = true) {
            self.lock.withLock {
                self.installed = installed
                self.daemonUp = daemonUp
                self.composeInstalled = composeInstalled
            }
        }

        private func answer(_ command: Command) throws -> CommandResult {
            try self.lock.withLock {
                guard self.installed else { throw CommandRunnerError.executableNotFound(command.executable) }
                #expect(command.executable == "docker")
                let arguments = command.arguments
                if arguments.first == "info" {
                    return self.daemonUp
                        ? CommandResult(status: 0, output: "27.5.1\n")
                        : CommandResult(
                            status: 1,
                            output: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
                        )
                }
                if arguments == ["compose", "version", "--short"] {
                    return self.composeInstalled
                        ? CommandResult(status: 0, output: "2.35.1\n")
                        : CommandResult(status: 1, output: "docker: unknown command: docker compose\n")
                }
                if arguments.contains("up") { self.running = true }
                if arguments.contains("stop") || arguments.contains("down") { self.running = false }
                if arguments.contains("ps") { return CommandResult(status: 0, output: self.running ? "3f2a1b4c5d6e7f8a\n" : "") }
                if arguments.contains("logs") { return CommandResult(status: 0, output: Self.logLine + "\n") }
                return CommandResult(status: 0, output: "")
            }
        }
    }

    static func composeBase(_ sandbox: ManagedPostgresSandbox) -> [String] {
        [
            "docker", "compose", "--project-directory", sandbox.directory, "--env-file", sandbox.directory + "/.env", "--file",
            sandbox.directory + "/compose.yml",
        ]
    }

    @Test
    func composeFileIsPinnedLocalAndHoldsNoSecret() {
        let rendered = ComposeFile.render(port: 5532, clusterDirectory: "./data/postgres/pgdata", owner: (uid: 1000, gid: 1001))
        let expected = """
            # dovetail-managed-postgres: written by `dovetail postgres init --engine docker`, replaced by `init --force`.
            # The credentials come from .env next to this file (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB); no secret is kept here.
            services:
              postgres:
                image: pgvector/pgvector:0.8.1-pg17-bookworm
                restart: unless-stopped
                # The server runs as the user who ran `init`, so the bind-mounted data directory stays theirs.
                user: "1000:1001"
                environment:
                  POSTGRES_USER: ${POSTGRES_USER:?run dovetail postgres init}
                  POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?run dovetail postgres init}
                  POSTGRES_DB: ${POSTGRES_DB:?run dovetail postgres init}
                  POSTGRES_INITDB_ARGS: "--auth-local=scram-sha-256 --auth-host=scram-sha-256 --data-checksums"
                volumes:
                  - type: bind
                    source: "./data/postgres/pgdata"
                    target: /var/lib/postgresql/data
                ports:
                  - "127.0.0.1:5532:5432"
                # PostgreSQL's fast shutdown: open transactions are rolled back, nothing is lost.
                stop_signal: SIGINT
                stop_grace_period: 60s
                shm_size: 256mb
                healthcheck:
                  test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -p 5432 -U $${POSTGRES_USER} -d $${POSTGRES_DB}"]
                  interval: 5s
                  timeout: 5s
                  retries: 10
                  start_period: 30s

            """
        #expect(rendered == expected)
        #expect(!rendered.contains("\t"))

        let asRoot = ComposeFile.render(port: 6000, clusterDirectory: "/srv/it's $here", owner: nil)
        #expect(!asRoot.contains("    user: "))
        #expect(asRoot.contains("source: \"/srv/it's $$here\""))
        #expect(asRoot.contains("- \"127.0.0.1:6000:5432\""))
    }

    @Test
    func initWritesComposeFileAndEnvAndRunsNoContainerWithNoStart() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            try "# mine\nKEEP=1\n".write(toFile: sandbox.directory + "/.env", atomically: false, encoding: .utf8)
            let docker = FakeDocker()
            let managed = ManagedPostgres(projectDirectory: sandbox.directory, runner: docker.runner)
            let lines = ReportedLines()
            let result = try await managed.initialize(.init(engine: .docker, port: sandbox.port, start: false), report: lines.reporter)
            let password = try #require(result.connection.password)

            let compose = try String(contentsOfFile: sandbox.directory + "/compose.yml", encoding: .utf8)
            #expect(ComposeFile.isOurs(compose))
            #expect(compose.contains("image: \(ComposeFile.image)") && !compose.contains(":latest"))
            #expect(compose.contains("- \"127.0.0.1:\(sandbox.port):5432\""))
            #expect(compose.contains("source: \"./data/postgres/pgdata\""))
            #expect(compose.contains("pg_isready"))
            #expect(!compose.contains(password) && !compose.contains(result.connection.username))
            if geteuid() == 0 {
                #expect(!compose.contains("    user: "))
            } else {
                #expect(compose.contains("user: \"\(geteuid()):\(getegid())\""))
            }
            #expect(FileManager.default.fileExists(atPath: sandbox.directory + "/data/postgres/pgdata"))

            let env = try EnvironmentFile.load(path: sandbox.directory + "/.env")
            #expect(env["KEEP"] == "1")
            #expect(env["POSTGRES_PASSWORD"] == password)
            #expect(env["POSTGRES_PORT"] == String(sandbox.port))
            #expect(try fileMode(sandbox.directory + "/.env") == 0o600)

            // Only the availability checks ran: nothing started without `start`.
            #expect(
                docker.runner.commands.map(\.argv) == [
                    ["docker", "info", "--format", "{{.ServerVersion}}"], ["docker", "compose", "version", "--short"],
                ])
            #expect(!lines.text.contains(password))
        }
    }

    @Test
    func startRunsComposeUpWaitsAndShowsTheContainerLogOnTimeout() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let docker = FakeDocker()
            let managed = ManagedPostgres(projectDirectory: sandbox.directory, runner: docker.runner)
            let result = try await managed.initialize(.init(engine: .docker, port: sandbox.port, start: false))
            let password = try #require(result.connection.password)

            // Nothing listens on the port (the container is make-believe), so waiting times out with the log tail.
            do {
                try await managed.start(timeout: .milliseconds(600))
                Issue.record("start succeeded without a server")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "start_timed_out")
                #expect(error.message.contains(FakeDocker.logLine), "\(error.message)")
                #expect(!error.message.contains(password))
            }
            let base = Self.composeBase(sandbox)
            let commands = docker.runner.commands.map(\.argv)
            #expect(commands.contains(base + ["ps", "--status", "running", "--quiet", "postgres"]))
            #expect(commands.contains(base + ["up", "--detach", "postgres"]))
            #expect(commands.contains(base + ["logs", "--no-color", "--tail", "20", "postgres"]))
            #expect(docker.runner.commands.allSatisfy { !$0.description.contains(password) }, "a password reached a command line")

            // The container runs now: logs, stop, purge.
            let logs = try await managed.logs(tail: 7)
            #expect(logs.contains(FakeDocker.logLine))
            #expect(docker.runner.commands.map(\.argv).contains(base + ["logs", "--no-color", "--tail", "7", "postgres"]))
            try await managed.followLogs(tail: 3) { _ in }
            #expect(docker.runner.commands.map(\.argv).contains(base + ["logs", "--no-color", "--tail", "3", "--follow", "postgres"]))

            let lines = ReportedLines()
            #expect(try await managed.stop(report: lines.reporter))
            #expect(docker.runner.commands.map(\.argv).contains(base + ["stop", "postgres"]))
            #expect(lines.text.contains("Stopped PostgreSQL; the data is kept"))
            #expect(FileManager.default.fileExists(atPath: sandbox.directory + "/data/postgres/pgdata"))

            try await managed.purge(report: lines.reporter)
            #expect(docker.runner.commands.map(\.argv).last == base + ["down", "--remove-orphans"])
            #expect(!FileManager.default.fileExists(atPath: sandbox.directory + "/data/postgres"))
            #expect(!FileManager.default.fileExists(atPath: sandbox.directory + "/compose.yml"))
            let env = try EnvironmentFile.load(path: sandbox.directory + "/.env")
            #expect(env["POSTGRES_PASSWORD"] == nil && env["DATABASE_URL"] == nil)
        }
    }

    @Test
    func missingDockerDaemonOrComposeAreTypedErrorsAndWriteNothing() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let docker = FakeDocker()
            let managed = ManagedPostgres(projectDirectory: sandbox.directory, runner: docker.runner)
            let cases: [(installed: Bool, daemonUp: Bool, compose: Bool, code: String, advice: String)] = [
                (false, true, true, "docker_not_installed", "Install Docker"),
                (true, false, true, "docker_daemon_not_running", "Start it"),
                (true, true, false, "docker_compose_not_installed", "docker-compose-plugin"),
            ]
            for (installed, daemonUp, compose, code, advice) in cases {
                docker.set(installed: installed, daemonUp: daemonUp, composeInstalled: compose)
                do {
                    try await managed.initialize(.init(engine: .docker, port: sandbox.port))
                    Issue.record("init succeeded without \(code)")
                } catch let error as ManagedPostgresError {
                    #expect(error.code == code)
                    #expect(error.message.contains(advice), "\(error.message)")
                }
                #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.directory).isEmpty)
            }
        }
    }

    @Test
    func refusesSomeoneElsesComposeFileUnlessForced() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let path = sandbox.directory + "/compose.yml"
            try "services:\n  web:\n    image: nginx\n".write(toFile: path, atomically: false, encoding: .utf8)
            let managed = ManagedPostgres(projectDirectory: sandbox.directory, runner: FakeDocker().runner)
            do {
                try await managed.initialize(.init(engine: .docker, port: sandbox.port, start: false))
                Issue.record("replaced a compose.yml dovetail did not write")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "compose_file_not_ours")
            }
            #expect(try String(contentsOfFile: path, encoding: .utf8).contains("nginx"))
            #expect(!FileManager.default.fileExists(atPath: sandbox.directory + "/.env"))

            try await managed.initialize(.init(engine: .docker, port: sandbox.port, force: true, start: false))
            #expect(ComposeFile.isOurs(try String(contentsOfFile: path, encoding: .utf8)))
        }
    }

    @Test
    func portInUseIsReportedBeforeAnythingRuns() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let blocker = try ManagedPostgresSandbox.PortBlocker(port: sandbox.port)
            defer { blocker.close() }
            let docker = FakeDocker()
            let managed = ManagedPostgres(projectDirectory: sandbox.directory, runner: docker.runner)
            do {
                try await managed.initialize(.init(engine: .docker, port: sandbox.port))
                Issue.record("init succeeded on a port in use")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "port_in_use")
                #expect(error.message.contains("port \(sandbox.port)"))
            }
            #expect(!docker.runner.commands.contains { $0.arguments.contains("up") })
        }
    }

    @Test
    func statusReportsAStoppedDaemonAsUnhealthy() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let docker = FakeDocker()
            let managed = ManagedPostgres(projectDirectory: sandbox.directory, runner: docker.runner)
            let result = try await managed.initialize(.init(engine: .docker, port: sandbox.port, start: false))
            docker.set(daemonUp: false)
            let status = await managed.status()
            #expect(!status.healthy)
            #expect(!status.engineAvailable)
            #expect(!status.acceptingConnections)
            #expect(status.engine == .docker)
            #expect(status.problems.contains { $0.contains("Docker daemon is not running") }, "\(status.problems)")
            #expect(status.lines.count == 8)
            #expect(!status.lines.joined().contains(result.connection.password!))
        }
    }
}
