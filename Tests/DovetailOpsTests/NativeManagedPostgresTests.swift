import DovetailStore
import DovetailTesting
import Foundation
import Logging
import SQLKit
import Testing

@testable import DovetailOps

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The native engine, for real: `initdb` and `pg_ctl` in a temporary directory under /tmp (run as the `postgres` user
/// when the tests run as root), on a free port. Every test stops the servers it started, also when it fails.
@Suite("Managed PostgreSQL, native engine (real servers)")
struct NativeManagedPostgresTests {
    static let logger = Logger(label: "dovetail.tests.managed-postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// init, status, connect with the credentials of .env, restart, stop, start again with the data still there, purge.
    @Test
    func lifecycle() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let envFile = sandbox.directory + "/.env"
            try "# project settings\nPORT=9000\nexport LOG_LEVEL=debug\n".write(toFile: envFile, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: envFile)
            let runner = RecordingCommandRunner(delegate: SystemCommandRunner())
            let managed = ManagedPostgres(projectDirectory: sandbox.directory, runner: runner)
            let lines = ReportedLines()

            let result = try await managed.initialize(.init(engine: .native, port: sandbox.port), report: lines.reporter)
            let password = try #require(result.connection.password)
            #expect(result.engine == .native)
            #expect(result.start?.alreadyRunning == false)

            // .env: the credentials added, every other line kept, mode 0600.
            let envText = try String(contentsOfFile: envFile, encoding: .utf8)
            #expect(envText.hasPrefix("# project settings\nPORT=9000\nexport LOG_LEVEL=debug\n"))
            #expect(try fileMode(envFile) == 0o600)
            let env = try EnvironmentFile.load(path: envFile)
            #expect(env["POSTGRES_USER"] == result.connection.username)
            #expect(env["POSTGRES_PASSWORD"] == password)
            #expect(env["POSTGRES_DB"] == "dovetail")
            #expect(env["POSTGRES_PORT"] == String(sandbox.port))
            #expect(env["DATABASE_URL"]?.contains("%") == true, "the password is percent-encoded in DATABASE_URL")
            #expect(try DatabaseURL(parsing: env["DATABASE_URL"] ?? "") == .postgres(result.connection))

            // As root the server runs as `postgres`, which owns the data directory, and init says so.
            if geteuid() == 0 {
                let postgres = try #require(SystemUser.named("postgres"))
                #expect(SystemUser.ownerIDs(of: managed.paths.clusterDirectory)?.uid == postgres.uid)
                #expect(lines.text.contains("runs as the system user 'postgres'"))
            }
            let conf = try String(contentsOfFile: managed.paths.clusterDirectory + "/postgresql.conf", encoding: .utf8)
            #expect(conf.contains("listen_addresses = '127.0.0.1'"))
            #expect(FileManager.default.fileExists(atPath: managed.paths.logFile))

            var status = await managed.status()
            #expect(status.healthy, "\(status.lines)")
            #expect(status.engineAvailable && status.serverRunning && status.acceptingConnections && status.credentialsValid == true)
            #expect(status.serverVersion?.first?.isNumber == true)
            #expect(status.schemaVersion == nil)
            #expect(status.vectorAvailable != nil)
            let json = String(decoding: try JSONEncoder().encode(status), as: UTF8.self)
            #expect(json.contains("\"healthy\":true"))
            #expect(!json.contains(password) && !status.lines.joined().contains(password))

            // The URL in .env is what dovetail itself uses: migrate and keep a row.
            let configuration = try DovetailConfiguration.load(environment: [:], directory: sandbox.directory)
            let store = try await Store.open(configuration.databaseURL, logger: Self.logger)
            do {
                try await store.migrator.migrate(logger: Self.logger)
                try await store.database.write { sql in
                    try await sql.raw("CREATE TABLE kept (value text)").run()
                    try await sql.raw("INSERT INTO kept VALUES ('still here')").run()
                }
            } catch {
                await store.shutdown()
                throw error
            }
            await store.shutdown()
            status = await managed.status()
            #expect(status.schemaVersion == Migrations.latestVersion)

            let restarted = try await managed.restart(timeout: .seconds(60), report: lines.reporter)
            #expect(!restarted.alreadyRunning)
            #expect(await managed.status().healthy)

            #expect(try await managed.stop(report: lines.reporter))
            status = await managed.status()
            #expect(!status.healthy && !status.serverRunning && !status.acceptingConnections)
            #expect(try await managed.stop(report: lines.reporter) == false, "stopping a stopped server is not an error")

            try await managed.start(timeout: .seconds(60), report: lines.reporter)
            #expect(try await Self.keptValues(configuration.databaseURL) == ["still here"])
            let again = try await managed.start(report: lines.reporter)
            #expect(again.alreadyRunning)

            // The password reached no command line, no report and no server log line.
            #expect(!runner.commands.isEmpty)
            #expect(runner.commands.allSatisfy { !$0.description.contains(password) }, "a password reached a command line")
            #expect(!lines.text.contains(password))
            #expect(!(try String(contentsOfFile: managed.paths.logFile, encoding: .utf8)).contains(password))
            // The password file given to initdb is gone.
            let initdb = try #require(runner.commands.first { $0.executable.hasSuffix("/initdb") })
            let passwordFile = try #require(initdb.arguments.first { $0.hasPrefix("--pwfile=") }).dropFirst("--pwfile=".count)
            #expect(!FileManager.default.fileExists(atPath: String(passwordFile)))

            try await managed.purge(report: lines.reporter)
            #expect(!FileManager.default.fileExists(atPath: managed.paths.dataDirectory))
            let afterPurge = try EnvironmentFile.load(path: envFile)
            #expect(afterPurge["PORT"] == "9000" && afterPurge["LOG_LEVEL"] == "debug")
            #expect(afterPurge["POSTGRES_PASSWORD"] == nil && afterPurge["DATABASE_URL"] == nil)
            #expect(try fileMode(envFile) == 0o600)
        }
    }

    @Test
    func portInUse() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let managed = ManagedPostgres(projectDirectory: sandbox.directory)
            let blocker = try ManagedPostgresSandbox.PortBlocker(port: sandbox.port)
            do {
                try await managed.initialize(.init(engine: .native, port: sandbox.port))
                Issue.record("init succeeded on a port in use")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "port_in_use")
                #expect(error.message.contains("port \(sandbox.port)") && error.message.contains("--port"))
            }
            #expect(!FileManager.default.fileExists(atPath: managed.paths.dataDirectory), "nothing is made before the port is checked")
            blocker.close()

            // Initialised while free, taken before start.
            try await managed.initialize(.init(engine: .native, port: sandbox.port, start: false))
            let again = try ManagedPostgresSandbox.PortBlocker(port: sandbox.port)
            do {
                try await managed.start(timeout: .seconds(30))
                Issue.record("start succeeded on a port in use")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "port_in_use")
            }
            again.close()
            try await managed.start(timeout: .seconds(60))
            #expect(await managed.status().healthy)
        }
    }

    @Test
    func initTwiceIsRefusedAndForceNeverReplacesCredentialsSilently() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let managed = ManagedPostgres(projectDirectory: sandbox.directory)
            let first = try await managed.initialize(.init(engine: .native, port: sandbox.port, start: false))
            let envBefore = try String(contentsOfFile: sandbox.directory + "/.env", encoding: .utf8)

            do {
                try await managed.initialize(.init(engine: .native, port: sandbox.port, start: false))
                Issue.record("a second init succeeded")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "already_initialised")
                #expect(error.message.contains("--force"))
            }
            #expect(try String(contentsOfFile: sandbox.directory + "/.env", encoding: .utf8) == envBefore)

            // Another data directory, but .env holds the first server's credentials: refused too.
            let other = ManagedPostgres(projectDirectory: sandbox.directory, dataDirectory: "./other")
            do {
                try await other.initialize(.init(engine: .native, port: sandbox.port, start: false))
                Issue.record("init replaced existing credentials without --force")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "existing_credentials")
                #expect(!error.message.contains(first.connection.password!))
            }
            #expect(try String(contentsOfFile: sandbox.directory + "/.env", encoding: .utf8) == envBefore)
            #expect(!FileManager.default.fileExists(atPath: sandbox.directory + "/other"))

            // --force starts over, says so, and keeps the old .env.
            let lines = ReportedLines()
            let second = try await managed.initialize(.init(engine: .native, port: sandbox.port, force: true), report: lines.reporter)
            #expect(second.connection.password != first.connection.password)
            #expect(second.envBackup == sandbox.directory + "/.env.bak")
            #expect(try String(contentsOfFile: sandbox.directory + "/.env.bak", encoding: .utf8) == envBefore)
            #expect(try fileMode(sandbox.directory + "/.env.bak") == 0o600)
            #expect(lines.text.contains("Replacing the credentials"))
            #expect(await managed.status().healthy)
        }
    }

    @Test
    func staleLockFiles() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let managed = ManagedPostgres(projectDirectory: sandbox.directory)
            try await managed.initialize(.init(engine: .native, port: sandbox.port, start: false))
            let pidFile = managed.paths.clusterDirectory + "/postmaster.pid"

            // A live process that is not PostgreSQL (this test process): reported, not removed.
            try "\(getpid())\n\(managed.paths.clusterDirectory)\n".write(toFile: pidFile, atomically: false, encoding: .utf8)
            do {
                try await managed.start(timeout: .seconds(30))
                Issue.record("start succeeded with a lock file naming a live process")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "stale_lock_file")
                #expect(error.message.contains("postmaster.pid") && error.message.contains("\(getpid())"))
            }
            #expect(FileManager.default.fileExists(atPath: pidFile))

            // A process that is gone (a server that crashed): removed, and the server starts.
            try "\(Self.deadProcessID())\n\(managed.paths.clusterDirectory)\n".write(toFile: pidFile, atomically: false, encoding: .utf8)
            let lines = ReportedLines()
            try await managed.start(timeout: .seconds(60), report: lines.reporter)
            #expect(lines.text.contains("Removed a stale postmaster.pid"))
            #expect(await managed.status().healthy)
        }
    }

    @Test
    func failedStartShowsTheServerLog() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let managed = ManagedPostgres(projectDirectory: sandbox.directory)
            try await managed.initialize(.init(engine: .native, port: sandbox.port, start: false))
            let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: managed.paths.clusterDirectory + "/postgresql.conf"))
            try conf.seekToEnd()
            try conf.write(contentsOf: Data("shared_buffers = 'plenty'\n".utf8))
            try conf.close()

            let clock = ContinuousClock()
            let began = clock.now
            do {
                try await managed.start(timeout: .seconds(60))
                Issue.record("start succeeded with a broken configuration")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "server_exited")
                #expect(error.message.contains("Last lines of the server log"))
                #expect(error.message.contains("shared_buffers"), "\(error.message)")
            }
            #expect(began.duration(to: clock.now) < .seconds(30), "a failed start is noticed without waiting for the timeout")
        }
    }

    @Test
    func wrongCredentialsAreReported() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let managed = ManagedPostgres(projectDirectory: sandbox.directory)
            try await managed.initialize(.init(engine: .native, port: sandbox.port))
            try EnvFileWriter(path: sandbox.directory + "/.env").set([("POSTGRES_PASSWORD", "not-the-password")])

            let status = await managed.status()
            #expect(!status.healthy)
            #expect(status.acceptingConnections && status.credentialsValid == false)
            do {
                try await managed.start(timeout: .seconds(30))
                Issue.record("start accepted wrong credentials")
            } catch let error as ManagedPostgresError {
                #expect(error.code == "wrong_credentials")
                #expect(!error.message.contains("not-the-password"))
            }
        }
    }

    @Test
    func commandsBeforeInitSayToRunInit() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let managed = ManagedPostgres(projectDirectory: sandbox.directory)
            for operation in ["start", "stop", "url"] {
                do {
                    switch operation {
                    case "start": try await managed.start()
                    case "stop": try await managed.stop()
                    default: _ = try managed.connectionInfo()
                    }
                    Issue.record("\(operation) succeeded before init")
                } catch let error as ManagedPostgresError {
                    #expect(error.code == "not_initialised")
                    #expect(error.message.contains("dovetail postgres init"))
                }
            }
            let status = await managed.status()
            #expect(!status.initialised && !status.healthy)
        }
    }

    // MARK: Helpers

    static func keptValues(_ url: DatabaseURL) async throws -> [String] {
        let store = try await Store.open(url, logger: Self.logger)
        do {
            let values = try await store.database.read { sql in
                try await sql.raw("SELECT value FROM kept").all().map { try $0.decode(column: "value", as: String.self) }
            }
            await store.shutdown()
            return values
        } catch {
            await store.shutdown()
            throw error
        }
    }

    /// The id of a process that has ended: a child that exited and was reaped.
    static func deadProcessID() throws -> Int32 {
        var pid = pid_t()
        let arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { arguments.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/true", nil, nil, arguments, nil) == 0 else { throw ManagedPostgresSandbox.SandboxError("cannot run /bin/true") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return pid
    }
}
