import DovetailOps
import Foundation
import Logging
import PostgresNIO

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A real, throwaway PostgreSQL server for tests.
///
/// `shared()` starts one cluster per test process (initdb + pg_ctl on a free port in a temporary directory) or, when
/// `TEST_POSTGRESQL_URL` is set, uses that server instead. Tests get an isolated database each from `createDatabase()`.
/// Every cluster this process started is stopped and its directory removed when the process exits, and a watchdog
/// does the same if the process dies without running its exit handlers.
///
/// As root, PostgreSQL refuses to run, so the cluster is owned by and run as the `postgres` system user.
public actor PostgresTestServer {
    public nonisolated let host: String
    public nonisolated let port: Int
    public nonisolated let superuser: String
    /// Contains characters that must be percent-encoded in a URL (`@`, space, `'`, `%`, `/`, `:`, `?`, `#`), so that
    /// tests exercise the parsing of connection URLs.
    public nonisolated let superuserPassword: String
    /// The percent-encoded query of `TEST_POSTGRESQL_URL` (without `?`), kept in every URL handed out.
    private nonisolated let urlQuery: String?
    /// The cluster this process started; nil for a server given by `TEST_POSTGRESQL_URL`.
    private nonisolated let cluster: LocalCluster?
    private let logger: Logger
    private var isDestroyed = false

    private init(host: String, port: Int, superuser: String, superuserPassword: String, urlQuery: String?, cluster: LocalCluster?) {
        self.host = host
        self.port = port
        self.superuser = superuser
        self.superuserPassword = superuserPassword
        self.urlQuery = urlQuery
        self.cluster = cluster
        var logger = Logger(label: "dovetail.testing.postgres")
        logger.logLevel = .warning
        self.logger = logger
    }

    /// One server shared by every test in the process, started on first use.
    ///
    /// If `TEST_POSTGRESQL_URL` is set (for example `postgresql://postgres:pw@127.0.0.1:5432/postgres`; the role must be a
    /// superuser or have CREATEDB), it is used instead of starting one. A failure to start is thrown to every caller,
    /// with a message that says how to fix it; it is never a silent skip.
    public static func shared() async throws -> PostgresTestServer {
        try await SharedServer.instance.server()
    }

    /// A server of its own (never `TEST_POSTGRESQL_URL`), for tests that stop and restart it. Call `destroy()` when done.
    public static func startDedicated() async throws -> PostgresTestServer {
        try await self.startLocalCluster()
    }

    /// The `postgresql://` URL (user and password percent-encoded) of database `database` on this server.
    public nonisolated func url(database: String) -> String {
        let hostPart = self.host.contains(":") ? "[\(self.host)]" : self.host
        var url = "postgresql://\(Self.percentEncode(self.superuser)):\(Self.percentEncode(self.superuserPassword))"
        url += "@\(hostPart):\(self.port)/\(Self.percentEncode(database))"
        if let urlQuery = self.urlQuery, !urlQuery.isEmpty {
            url += "?\(urlQuery)"
        }
        return url
    }

    /// The server's log file (`pg_ctl -l`), for tests that check what PostgreSQL wrote there (never a password);
    /// nil for a `TEST_POSTGRESQL_URL` server, whose log is not ours to read: use `startDedicated()` for those tests.
    public nonisolated var logFilePath: String? { self.cluster?.logFile }

    /// Creates a fresh, empty database with a unique name (`dovetail_test_<random hex>`) and returns its URL.
    public func createDatabase() async throws -> String {
        let name = "dovetail_test_\(Self.randomHex(bytes: 8))"
        try await self.runAsSuperuser("CREATE DATABASE \(Self.quoteIdentifier(name))")
        return self.url(database: name)
    }

    /// Drops database `name`, terminating its connections first. Dropping a database that does not exist is not an error.
    public func dropDatabase(_ name: String) async throws {
        try await self.runAsSuperuser("DROP DATABASE IF EXISTS \(Self.quoteIdentifier(name)) WITH (FORCE)")
    }

    /// Stops the server (`pg_ctl stop -m fast`). Only for servers this process started.
    public func stop() async throws {
        let cluster = try self.requireCluster(for: "stop()")
        try await cluster.stop(mode: "fast")
    }

    /// Starts the server again, on the same port and data directory. Only for servers this process started.
    public func start() async throws {
        let cluster = try self.requireCluster(for: "start()")
        let result = try await cluster.start(port: self.port)
        guard result.status == 0 else {
            throw PostgresTestServerError.startFailed(
                ports: [self.port],
                output: result.output,
                logTail: cluster.logTail(lines: 20)
            )
        }
        try await self.waitUntilReady(timeout: .seconds(30))
    }

    /// Stops the server immediately and removes its temporary directory. Does nothing for a `TEST_POSTGRESQL_URL` server.
    /// For dedicated servers; the shared one is cleaned up when the process exits.
    public func destroy() async {
        guard let cluster = self.cluster, !self.isDestroyed else { return }
        self.isDestroyed = true
        await cluster.discard()
    }

    // MARK: Talking to the server

    private func requireCluster(for operation: String) throws -> LocalCluster {
        guard let cluster = self.cluster else {
            throw PostgresTestServerError.notStartedHere(operation: operation)
        }
        guard !self.isDestroyed else {
            throw PostgresTestServerError.destroyed(operation: operation)
        }
        return cluster
    }

    private func superuserConfiguration() -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            host: self.host,
            port: self.port,
            username: self.superuser,
            password: self.superuserPassword,
            database: "postgres",
            tls: .disable
        )
    }

    /// Runs one statement on a short-lived superuser connection to the `postgres` database.
    private func runAsSuperuser(_ sql: String) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: self.superuserConfiguration(),
            id: Int.random(in: 1...Int.max),
            logger: self.logger
        )
        do {
            let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: self.logger)
            for try await _ in rows {}
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// Connects until a connection succeeds or `timeout` has passed.
    private func waitUntilReady(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            do {
                let connection = try await PostgresConnection.connect(
                    configuration: self.superuserConfiguration(),
                    id: Int.random(in: 1...Int.max),
                    logger: self.logger
                )
                try await connection.close()
                return
            } catch {
                if clock.now >= deadline || !Self.isWorthRetrying(error) {
                    throw PostgresTestServerError.notReady(
                        target: "\(self.superuser)@\(self.host):\(self.port)",
                        underlying: String(reflecting: error),
                        logTail: self.cluster?.logTail(lines: 20)
                    )
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The server answered with an error (a wrong password, a missing role) other than "starting up": waiting won't help.
    private static func isWorthRetrying(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let sqlState = error.serverInfo?[.sqlState] else { return true }
        return sqlState == "57P03"  // cannot_connect_now
    }

    // MARK: Starting

    fileprivate static func startLocalCluster() async throws -> PostgresTestServer {
        let binDirectory = try await findServerBinaries()
        let runAsPostgresUser = geteuid() == 0
        if runAsPostgresUser {
            try await ensurePostgresUserExists()
        }
        let cluster = try LocalCluster.create(binDirectory: binDirectory, runAsPostgresUser: runAsPostgresUser)
        do {
            let superuser = "postgres"
            let password = "p@ss w'rd%/:?#\(randomHex(bytes: 8))"
            try await cluster.initialize(superuser: superuser, password: password)

            // A port found free may be taken before the server binds it: try another one.
            var triedPorts: [Int] = []
            var lastError: PostgresTestServerError?
            for _ in 1...5 {
                let port = try TestSupport.freePort()
                triedPorts.append(port)
                let result = try await cluster.start(port: port)
                guard result.status == 0 else {
                    lastError = .startFailed(ports: triedPorts, output: result.output, logTail: cluster.logTail(lines: 20))
                    // pg_ctl may have given up waiting on a server that still runs.
                    try? await cluster.stop(mode: "immediate")
                    continue
                }
                let server = PostgresTestServer(
                    host: "127.0.0.1",
                    port: port,
                    superuser: superuser,
                    superuserPassword: password,
                    urlQuery: nil,
                    cluster: cluster
                )
                try await server.waitUntilReady(timeout: .seconds(30))
                return server
            }
            throw lastError ?? .startFailed(ports: triedPorts, output: "", logTail: cluster.logTail(lines: 20))
        } catch {
            await cluster.discard()
            throw error
        }
    }

    fileprivate static func connectToExternalServer(url urlString: String) async throws -> PostgresTestServer {
        guard let components = URLComponents(string: urlString),
            let scheme = components.scheme?.lowercased(), scheme == "postgresql" || scheme == "postgres",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else {
            throw PostgresTestServerError.invalidURL
        }
        let server = PostgresTestServer(
            host: host,
            port: components.port ?? 5432,
            superuser: user,
            superuserPassword: components.password ?? "",
            urlQuery: components.percentEncodedQuery,
            cluster: nil
        )
        try await server.waitUntilReady(timeout: .seconds(10))
        return server
    }

    /// `PG_BIN_DIR`, else the highest `/usr/lib/postgresql/<version>/bin`, else `pg_config --bindir`, else `PATH`.
    private static func findServerBinaries() async throws -> String {
        let fileManager = FileManager.default
        func hasServer(_ directory: String) -> Bool {
            fileManager.isExecutableFile(atPath: directory + "/initdb") && fileManager.isExecutableFile(atPath: directory + "/pg_ctl")
        }
        let environment = ProcessInfo.processInfo.environment
        if let directory = environment["PG_BIN_DIR"], !directory.isEmpty {
            guard hasServer(directory) else {
                throw PostgresTestServerError.binariesNotFound(lookedIn: ["PG_BIN_DIR=\(directory)"])
            }
            return directory
        }

        let versions = (try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        let newestFirst = versions.sorted { lhs, rhs in
            let left = lhs.split(separator: ".").map { Int($0) ?? 0 }
            let right = rhs.split(separator: ".").map { Int($0) ?? 0 }
            return right.lexicographicallyPrecedes(left)
        }
        for version in newestFirst where hasServer("/usr/lib/postgresql/\(version)/bin") {
            return "/usr/lib/postgresql/\(version)/bin"
        }

        if let result = try? await runCommand("/usr/bin/env", ["pg_config", "--bindir"]), result.status == 0 {
            let directory = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            if hasServer(directory) {
                return directory
            }
        }

        for directory in (environment["PATH"] ?? "").split(separator: ":").map(String.init) where hasServer(directory) {
            return directory
        }
        throw PostgresTestServerError.binariesNotFound(lookedIn: ["/usr/lib/postgresql/*/bin", "`pg_config --bindir`", "PATH"])
    }

    /// PostgreSQL refuses to run as root; as root, the cluster runs as the `postgres` system user, created if missing.
    private static func ensurePostgresUserExists() async throws {
        guard postgresUserIDs() == nil else { return }
        let result = try await runCommand("/usr/bin/env", ["useradd", "--system", "--no-create-home", "postgres"])
        // Another server may have created the user meanwhile.
        guard postgresUserIDs() != nil else {
            throw PostgresTestServerError.commandFailed(
                command: "useradd --system --no-create-home postgres",
                status: result.status,
                output: result.output
            )
        }
    }

    // MARK: Helpers

    private static func quoteIdentifier(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static let unreservedURLCharacters = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )

    private static func percentEncode(_ string: String) -> String {
        string.addingPercentEncoding(withAllowedCharacters: self.unreservedURLCharacters) ?? string
    }

    fileprivate static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in
            let byte = UInt8.random(in: 0...255)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}

/// Why a test server could not be started or used. The description says what to do next.
public struct PostgresTestServerError: Error, CustomStringConvertible {
    private enum Base {
        case binariesNotFound(lookedIn: [String])
        case commandFailed(command: String, status: Int32, output: String)
        case startFailed(ports: [Int], output: String, logTail: String)
        case notReady(target: String, underlying: String, logTail: String?)
        case invalidURL
        case notStartedHere(operation: String)
        case destroyed(operation: String)
        case system(String)
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    static func binariesNotFound(lookedIn: [String]) -> Self { .init(.binariesNotFound(lookedIn: lookedIn)) }
    static func commandFailed(command: String, status: Int32, output: String) -> Self {
        .init(.commandFailed(command: command, status: status, output: output))
    }
    static func startFailed(ports: [Int], output: String, logTail: String) -> Self {
        .init(.startFailed(ports: ports, output: output, logTail: logTail))
    }
    static func notReady(target: String, underlying: String, logTail: String?) -> Self {
        .init(.notReady(target: target, underlying: underlying, logTail: logTail))
    }
    static var invalidURL: Self { .init(.invalidURL) }
    static func notStartedHere(operation: String) -> Self { .init(.notStartedHere(operation: operation)) }
    static func destroyed(operation: String) -> Self { .init(.destroyed(operation: operation)) }
    static func system(_ message: String) -> Self { .init(.system(message)) }

    public var description: String {
        switch self.base {
        case .binariesNotFound(let lookedIn):
            return "PostgreSQL server binaries not found (looked in \(lookedIn.joined(separator: ", "))). "
                + "Install them with `apt-get install -y postgresql` (Debian/Ubuntu) "
                + "or set TEST_POSTGRESQL_URL=postgresql://user:password@host:port/postgres"
        case .commandFailed(let command, let status, let output):
            return "`\(command)` failed with exit status \(status):\n\(output)"
        case .startFailed(let ports, let output, let logTail):
            let portList = ports.map(String.init).joined(separator: ", ")
            return "The PostgreSQL test server did not start on 127.0.0.1 (tried port \(portList)).\n"
                + "pg_ctl said:\n\(output)\nLast lines of the server log:\n\(logTail)"
        case .notReady(let target, let underlying, let logTail):
            var message = "Could not connect to the PostgreSQL test server \(target): \(underlying)"
            if let logTail {
                message += "\nLast lines of the server log:\n\(logTail)"
            }
            return message
        case .invalidURL:
            return "TEST_POSTGRESQL_URL is not a usable URL: expected postgresql://user:password@host:port/postgres "
                + "(percent-encode special characters in the user and password; the role must be a superuser or have CREATEDB)"
        case .notStartedHere(let operation):
            return "PostgresTestServer.\(operation) works only on servers this process started, not on TEST_POSTGRESQL_URL; "
                + "use PostgresTestServer.startDedicated()"
        case .destroyed(let operation):
            return "PostgresTestServer.\(operation) was called after destroy()"
        case .system(let message):
            return message
        }
    }
}

// MARK: - The shared server

/// Starts the shared server once, however many tests ask for it at the same time.
private actor SharedServer {
    static let instance = SharedServer()

    private var startup: Task<PostgresTestServer, any Error>?

    func server() async throws -> PostgresTestServer {
        if let startup = self.startup {
            return try await startup.value
        }
        let startup = Task {
            if let url = ProcessInfo.processInfo.environment["TEST_POSTGRESQL_URL"], !url.isEmpty {
                return try await PostgresTestServer.connectToExternalServer(url: url)
            }
            return try await PostgresTestServer.startLocalCluster()
        }
        self.startup = startup
        return try await startup.value
    }
}

// MARK: - A cluster on this machine

/// The files and commands of one cluster started by this process. All paths are absolute.
private struct LocalCluster: Sendable {
    let binDirectory: String
    /// Holds the data directory, the server log and the Unix socket; removed by `discard()`.
    let directory: String
    let runAsPostgresUser: Bool

    var dataDirectory: String { self.directory + "/data" }
    var logFile: String { self.directory + "/postgres.log" }

    /// Makes a fresh temporary directory (owned by `postgres` when running as root) and registers it for cleanup at exit.
    static func create(binDirectory: String, runAsPostgresUser: Bool) throws -> LocalCluster {
        // As root, /tmp rather than $TMPDIR: the `postgres` user must be able to reach the directory.
        let base = runAsPostgresUser ? "/tmp" : FileManager.default.temporaryDirectory.path
        let directory = (base.hasSuffix("/") ? base : base + "/") + "dovetail-pg-\(PostgresTestServer.randomHex(bytes: 8))"
        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: false,
                attributes: [.posixPermissions: 0o700]
            )
        } catch {
            throw PostgresTestServerError.system("Could not create the temporary directory \(directory): \(error)")
        }
        let cluster = LocalCluster(binDirectory: binDirectory, directory: directory, runAsPostgresUser: runAsPostgresUser)
        if runAsPostgresUser {
            try cluster.chownToPostgres(directory)
        }
        ClusterRegistry.shared.register(directory: directory)
        return cluster
    }

    func chownToPostgres(_ path: String) throws {
        guard let ids = postgresUserIDs() else {
            throw PostgresTestServerError.system("The `postgres` system user does not exist")
        }
        guard chown(path, ids.uid, ids.gid) == 0 else {
            throw PostgresTestServerError.system("Could not change the owner of \(path) to postgres (errno \(errno))")
        }
    }

    /// `initdb` with password authentication (scram-sha-256) for every connection, then settings for fast tests.
    func initialize(superuser: String, password: String) async throws {
        let passwordFile = self.directory + "/pwfile"
        guard FileManager.default.createFile(atPath: passwordFile, contents: Data(password.utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw PostgresTestServerError.system("Could not write \(passwordFile)")
        }
        if self.runAsPostgresUser {
            try self.chownToPostgres(passwordFile)
        }
        let arguments = [
            "-D", self.dataDirectory, "--username=\(superuser)", "--pwfile=\(passwordFile)", "--auth=scram-sha-256",
            "--encoding=UTF8", "--no-locale", "--no-sync",
        ]
        let result = try await self.run("initdb", arguments)
        try? FileManager.default.removeItem(atPath: passwordFile)
        guard result.status == 0 else {
            throw PostgresTestServerError.commandFailed(
                command: "initdb \(arguments.joined(separator: " "))",
                status: result.status,
                output: result.output
            )
        }

        // Durability is of no use to a throwaway server: these settings make tests fast.
        let settings = """

            # Added by DovetailTesting for a throwaway test server.
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(self.directory.replacingOccurrences(of: "'", with: "''"))'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 300
            shared_buffers = 128MB

            """
        guard let handle = FileHandle(forWritingAtPath: self.dataDirectory + "/postgresql.conf") else {
            throw PostgresTestServerError.system("Could not open \(self.dataDirectory)/postgresql.conf")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    /// `pg_ctl start -w`; the caller checks the status, since a taken port is retried with another one.
    func start(port: Int) async throws -> CommandResult {
        try await self.run("pg_ctl", ["start", "-w", "-t", "60", "-D", self.dataDirectory, "-l", self.logFile, "-o", "-p \(port)"])
    }

    func stop(mode: String) async throws {
        let arguments = ["stop", "-w", "-t", "60", "-D", self.dataDirectory, "-m", mode]
        let result = try await self.run("pg_ctl", arguments)
        guard result.status == 0 else {
            throw PostgresTestServerError.commandFailed(
                command: "pg_ctl \(arguments.joined(separator: " "))",
                status: result.status,
                output: result.output
            )
        }
    }

    /// Stops the server at once if it runs and removes the directory.
    func discard() async {
        if FileManager.default.fileExists(atPath: self.dataDirectory + "/postmaster.pid") {
            try? await self.stop(mode: "immediate")
        }
        ClusterRegistry.shared.unregister(directory: self.directory)
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    func logTail(lines: Int) -> String {
        guard let data = FileManager.default.contents(atPath: self.logFile) else { return "(no server log)" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .suffix(lines + 1).joined(separator: "\n")
    }

    private func run(_ tool: String, _ arguments: [String]) async throws -> CommandResult {
        try await runCommand(
            self.binDirectory + "/" + tool,
            arguments,
            asPostgresUser: self.runAsPostgresUser,
            currentDirectory: self.directory
        )
    }
}

// MARK: - Cleanup at exit

/// Every cluster directory this process made and has not discarded, so that `atexit` can stop the servers and remove
/// the directories, and a watchdog can do the same if the process dies without running exit handlers (a crash).
private final class ClusterRegistry: @unchecked Sendable {
    // @unchecked Sendable is safe: the only mutable state, `watchdogs` and `exitHandlerInstalled`, is read and written
    // only while `lock` is held, and `lock` itself (NSLock) is thread-safe.
    static let shared = ClusterRegistry()

    private let lock = NSLock()
    /// Directory → process id of its watchdog (nil if it could not be started).
    private var watchdogs: [String: pid_t?] = [:]
    private var exitHandlerInstalled = false

    func register(directory: String) {
        let watchdog = Self.startWatchdog(directory: directory)
        self.lock.withLock {
            self.watchdogs[directory] = watchdog
            if !self.exitHandlerInstalled {
                self.exitHandlerInstalled = true
                atexit {
                    ClusterRegistry.shared.discardAll()
                }
            }
        }
    }

    func unregister(directory: String) {
        let watchdog = self.lock.withLock { self.watchdogs.removeValue(forKey: directory) }
        if let watchdog = watchdog ?? nil {
            kill(watchdog, SIGTERM)
            DispatchQueue.global().async { _ = ProcessSpawner.reap(watchdog) }
        }
    }

    /// Runs at process exit: stops every remaining server (SIGQUIT, PostgreSQL's immediate shutdown) and removes its
    /// directory. Synchronous, without subprocesses, as befits an exit handler.
    func discardAll() {
        let directories = self.lock.withLock {
            let directories = Array(self.watchdogs.keys)
            self.watchdogs.removeAll()
            return directories
        }
        for directory in directories {
            Self.stopImmediately(dataDirectory: directory + "/data")
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    private static func stopImmediately(dataDirectory: String) {
        let pidFile = dataDirectory + "/postmaster.pid"
        guard let contents = FileManager.default.contents(atPath: pidFile),
            let firstLine = String(decoding: contents, as: UTF8.self).split(separator: "\n").first,
            let pid = pid_t(firstLine.trimmingCharacters(in: .whitespaces)), pid > 0
        else { return }
        guard kill(pid, SIGQUIT) == 0 else { return }
        // The postmaster removes its pid file once its children have exited. (It may stay a zombie until something
        // reaps it, so the pid file is a better signal than the process itself.)
        for _ in 0..<200 {
            if !FileManager.default.fileExists(atPath: pidFile) || kill(pid, 0) != 0 { return }
            usleep(25_000)
        }
        kill(pid, SIGKILL)
    }

    /// A shell, in a process group of its own so that a Ctrl-C to the test run does not reach it, that waits for this
    /// process to end, then stops the server and removes the directory.
    private static func startWatchdog(directory: String) -> pid_t? {
        let script = """
            while kill -0 "$1" 2>/dev/null; do sleep 1; done
            pidfile="$2/data/postmaster.pid"
            if [ -f "$pidfile" ]; then
                kill -QUIT "$(head -n 1 "$pidfile")" 2>/dev/null
                i=0
                while [ -f "$pidfile" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
            fi
            rm -rf "$2"
            """
        // Without a watchdog the exit handler still cleans up; only a crash would leave the server behind.
        return try? ProcessSpawner.spawn(
            ["/bin/sh", "-c", script, "dovetail-pg-watchdog", String(getpid()), directory], environment: ProcessInfo.processInfo.environment,
            output: .discard, newProcessGroup: true
        )
    }
}

// MARK: - Processes, users and ports

private typealias CommandResult = ChildProcess.Result

/// Runs a command to completion and captures its output, optionally as the `postgres` user and in `currentDirectory`.
private func runCommand(
    _ executable: String,
    _ arguments: [String],
    asPostgresUser: Bool = false,
    currentDirectory: String? = nil
) async throws -> CommandResult {
    var command = [executable] + arguments
    if let currentDirectory {
        command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", currentDirectory] + command
    }
    if asPostgresUser {
        if let runuser = ["/usr/sbin/runuser", "/sbin/runuser"].first(where: FileManager.default.isExecutableFile(atPath:)) {
            command = [runuser, "-u", "postgres", "--"] + command
        } else {
            let su = ["/bin/su", "/usr/bin/su"].first(where: FileManager.default.isExecutableFile(atPath:)) ?? "/bin/su"
            command = [su, "postgres", "-s", "/bin/sh", "-c", command.map(ChildProcess.shellQuote).joined(separator: " ")]
        }
    }

    // Spawned by posix_spawn in a process group of its own, with no inherited descriptor: the server that
    // `pg_ctl start` leaves running would otherwise hold a pipe of ours, and Foundation's `Process` would
    // never see `pg_ctl` end.
    do {
        return try await ChildProcess.run(command, environment: ProcessInfo.processInfo.environment, newProcessGroup: true)
    } catch let error as ChildProcess.CannotStart {
        throw PostgresTestServerError.system(error.description)
    }
}

private func postgresUserIDs() -> (uid: uid_t, gid: gid_t)? {
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 16_384)
    guard getpwnam_r("postgres", &entry, &buffer, buffer.count, &result) == 0, result != nil else {
        return nil
    }
    return (entry.pw_uid, entry.pw_gid)
}

extension TestSupport {
    /// A TCP port on 127.0.0.1 that was free a moment ago: bind to port 0, read the port the kernel chose, close.
    public static func freePort() throws -> Int {
        #if canImport(Darwin)
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #else
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #endif
        guard descriptor >= 0 else {
            throw PostgresTestServerError.system("Could not create a socket to find a free port (errno \(errno))")
        }
        defer { close(descriptor) }

        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        guard bound else {
            throw PostgresTestServerError.system("Could not bind a socket on 127.0.0.1 to find a free port (errno \(errno))")
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
