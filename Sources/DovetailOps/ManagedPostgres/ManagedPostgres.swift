import DovetailStore
import Foundation

/// A local PostgreSQL that Dovetail creates, starts, stops and checks: natively from the PostgreSQL binaries of this
/// machine, or in Docker. `dovetail postgres …` and `dovetail serve --managed-postgres` are thin shells around it.
///
/// Its credentials live in `.env` in the project directory, written by `initialize` and read by every other command;
/// what `initialize` chose (engine, port, server user) lives in the data directory. Progress is told through a
/// `Reporter`, one sentence at a time; no sentence, error or status ever holds the password.
public struct ManagedPostgres: Sendable {
    public typealias Reporter = @Sendable (String) -> Void

    public let paths: ManagedPostgresPaths
    let runner: any CommandRunner

    public static let defaultPort = 5532
    /// The `.env` variables `initialize` writes.
    public static let environmentKeys = [
        "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_PORT", ManagedPostgresPaths.dataDirectoryVariable, "DATABASE_URL",
    ]

    /// The comment `init` puts above the keys it appends to `.env` (and `purge` removes with them).
    static let envHeader = "Managed PostgreSQL, written by `dovetail postgres init`. Keep this file private (mode 0600)."

    /// `dataDirectory` nil means `POSTGRES_DATA_DIR` from the environment or `.env`, else `./data/postgres`; a relative
    /// path is relative to `projectDirectory`.
    public init(
        projectDirectory: String = FileManager.default.currentDirectoryPath,
        dataDirectory: String? = nil,
        runner: any CommandRunner = SystemCommandRunner()
    ) {
        let project = ManagedPostgresPaths.absolute(projectDirectory, relativeTo: FileManager.default.currentDirectoryPath)
        let variable = ManagedPostgresPaths.dataDirectoryVariable
        let fromEnvironment =
            ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            ?? (try? EnvironmentFile.load(path: project + "/.env"))?[variable].flatMap { $0.isEmpty ? nil : $0 }
        self.paths = ManagedPostgresPaths(
            projectDirectory: project,
            dataDirectory: dataDirectory ?? fromEnvironment ?? ManagedPostgresPaths.defaultDataDirectory
        )
        self.runner = runner
    }

    func engine(_ kind: ManagedPostgresEngine) -> any ManagedServerEngine {
        switch kind {
        case .native: NativeServerEngine(paths: self.paths, runner: self.runner)
        case .docker: DockerServerEngine(paths: self.paths, runner: self.runner)
        }
    }

    /// Native where the PostgreSQL server binaries are found, else docker where `docker` is installed.
    public static func defaultEngine() throws(ManagedPostgresError) -> ManagedPostgresEngine {
        do {
            _ = try PostgresBinaries.find()
            return .native
        } catch {
            if (try? SystemCommandRunner.executablePath("docker")) != nil { return .docker }
            throw error
        }
    }

    // MARK: - init

    public struct InitOptions: Sendable {
        /// Nil picks `defaultEngine()`.
        public var engine: ManagedPostgresEngine?
        public var port: Int
        /// Native, as root: the system user that runs the server (default `postgres`).
        public var runAs: String?
        /// Replace an existing installation (deleting its data) and existing credentials in `.env`.
        public var force: Bool
        /// Start the server and wait for it once it is prepared.
        public var start: Bool
        public var timeout: Duration

        public init(
            engine: ManagedPostgresEngine? = nil,
            port: Int = ManagedPostgres.defaultPort,
            runAs: String? = nil,
            force: Bool = false,
            start: Bool = true,
            timeout: Duration = .seconds(60)
        ) {
            self.engine = engine
            self.port = port
            self.runAs = runAs
            self.force = force
            self.start = start
            self.timeout = timeout
        }
    }

    public struct InitResult: Sendable {
        public var engine: ManagedPostgresEngine
        /// Holds the password: never print it (its description is redacted).
        public var connection: PostgresConnectionInfo
        public var envChange: EnvFileWriter.Change
        /// Where the `.env` that held other credentials was copied before they were replaced.
        public var envBackup: String?
        public var start: StartResult?
    }

    /// Creates a new server with new credentials, writes them to `.env`, and (unless told not to) starts it.
    ///
    /// Refuses, without `force`, an initialised data directory and a `.env` that already holds PostgreSQL credentials.
    @discardableResult
    public func initialize(_ options: InitOptions, report: @escaping Reporter = { _ in }) async throws -> InitResult {
        guard (1...65535).contains(options.port) else {
            throw ManagedPostgresError.system("--port \(options.port) is not a TCP port; use one from 1 to 65535 (default \(Self.defaultPort)).")
        }
        let kind = try options.engine ?? Self.defaultEngine()
        let engine = self.engine(kind)

        let previous = try ManagedPostgresManifest.load(self.paths)
        let clusterExists = FileManager.default.fileExists(atPath: self.paths.clusterDirectory + "/PG_VERSION")
        if previous != nil || clusterExists, !options.force {
            throw ManagedPostgresError.alreadyInitialised(directory: self.paths.dataDirectorySetting, engine: previous?.engine ?? .native)
        }
        let credentialKeys = try self.existingCredentialKeys()
        if !credentialKeys.isEmpty, !options.force {
            throw ManagedPostgresError.existingCredentials(envFile: self.paths.envFile, keys: credentialKeys)
        }
        let runAs = try Self.serverUser(options.runAs, engine: kind)
        let availability = try await engine.checkAvailable()
        report("Engine: \(kind.rawValue) (\(availability)).")

        if options.force, previous != nil || clusterExists || FileManager.default.fileExists(atPath: self.paths.dataDirectory) {
            report("--force: deleting the managed PostgreSQL in \(self.paths.dataDirectorySetting) and its data.")
            try await self.tearDown(previous, report: report)
        }
        guard LocalPort.isFree(options.port) else { throw ManagedPostgresError.portInUse(options.port) }

        let credentials = PostgresCredentials.generate()
        let dataDirectoryExisted = FileManager.default.fileExists(atPath: self.paths.dataDirectory)
        let manifest: ManagedPostgresManifest
        do {
            manifest = try await engine.prepare(
                ServerSetup(credentials: credentials, port: options.port, runAs: runAs, force: options.force),
                report: report
            )
            try manifest.save(self.paths)
            if let runAs {
                try runAs.takeOwnership(of: self.paths.manifestFile)
            }
        } catch {
            // Leave nothing half made: a later `init` would take it for an installation.
            if dataDirectoryExisted {
                for path in [self.paths.clusterDirectory, self.paths.manifestFile, self.paths.logFile] {
                    try? FileManager.default.removeItem(atPath: path)
                }
            } else {
                try? FileManager.default.removeItem(atPath: self.paths.dataDirectory)
            }
            throw error
        }

        var backup: String?
        if !credentialKeys.isEmpty {
            backup = try self.backUpEnvFile()
            report(
                "Replacing the credentials in \(self.paths.envFile) (\(credentialKeys.joined(separator: ", "))); the old file is kept as \(backup!).")
        }
        let connection = credentials.connectionInfo(port: options.port)
        let change: EnvFileWriter.Change
        do {
            change = try EnvFileWriter(path: self.paths.envFile).set(
                [
                    ("POSTGRES_USER", credentials.user),
                    ("POSTGRES_PASSWORD", credentials.password),
                    ("POSTGRES_DB", credentials.database),
                    ("POSTGRES_PORT", String(options.port)),
                    (ManagedPostgresPaths.dataDirectoryVariable, self.paths.dataDirectorySetting),
                    ("DATABASE_URL", connection.urlString),
                ],
                header: Self.envHeader
            )
        } catch {
            throw ManagedPostgresError.envFile(error.description)
        }
        report(Self.describe(change, path: self.paths.envFile))

        var started: StartResult?
        if options.start {
            started = try await self.start(timeout: options.timeout, report: report)
        } else {
            report("Prepared; start it with `dovetail postgres start`.")
        }
        return InitResult(engine: manifest.engine, connection: connection, envChange: change, envBackup: backup, start: started)
    }

    /// The keys of `.env` that hold PostgreSQL credentials, if it holds a password (POSTGRES_PASSWORD, or a
    /// postgresql:// DATABASE_URL with one).
    private func existingCredentialKeys() throws(ManagedPostgresError) -> [String] {
        let values = try self.readEnvFile()
        var hasPassword = !(values["POSTGRES_PASSWORD"] ?? "").isEmpty
        var urlHasPassword = false
        if let url = values["DATABASE_URL"], case .postgres(let info)? = try? DatabaseURL(parsing: url), info.password != nil {
            urlHasPassword = true
            hasPassword = true
        }
        guard hasPassword else { return [] }
        var keys = ["POSTGRES_USER", "POSTGRES_PASSWORD"].filter { !(values[$0] ?? "").isEmpty }
        if urlHasPassword { keys.append("DATABASE_URL") }
        return keys
    }

    private func backUpEnvFile() throws(ManagedPostgresError) -> String {
        var backup = self.paths.envFile + ".bak"
        var number = 2
        while FileManager.default.fileExists(atPath: backup) {
            backup = self.paths.envFile + ".bak.\(number)"
            number += 1
        }
        do {
            try FileManager.default.copyItem(atPath: self.paths.envFile, toPath: backup)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: backup)
        } catch {
            throw .envFile("cannot back up \(self.paths.envFile) before replacing its credentials: \(error.localizedDescription)")
        }
        return backup
    }

    /// As root the native server runs as `runAs` (default `postgres`); otherwise as the current user.
    private static func serverUser(_ runAs: String?, engine: ManagedPostgresEngine) throws(ManagedPostgresError) -> SystemUser? {
        guard engine == .native else {
            if let runAs { throw .system("--run-as \(runAs) applies to the native engine only; the docker engine runs the server in its container.") }
            return nil
        }
        guard SystemUser.isRoot else {
            if let runAs, runAs != SystemUser.currentName { throw .runAsNeedsRoot(user: runAs) }
            return nil
        }
        let name = runAs ?? "postgres"
        guard name != "root" else { throw .system("PostgreSQL refuses to run as root; pass --run-as with another user (default postgres).") }
        guard let user = SystemUser.named(name) else { throw .userNotFound(name) }
        return user
    }

    static func describe(_ change: EnvFileWriter.Change, path: String) -> String {
        var parts: [String] = []
        if !change.added.isEmpty { parts.append("added \(change.added.joined(separator: ", "))") }
        if !change.replaced.isEmpty { parts.append("replaced \(change.replaced.joined(separator: ", "))") }
        if !change.removed.isEmpty { parts.append("removed \(change.removed.joined(separator: ", "))") }
        return "Updated \(path) (mode 0600; other lines kept): " + (parts.isEmpty ? "nothing to change" : parts.joined(separator: "; ")) + "."
    }

    // MARK: - start, stop, restart

    public struct StartResult: Sendable {
        public var alreadyRunning: Bool
        /// From the start command to the first accepted connection with the credentials of `.env`.
        public var readyAfter: Duration
        public var serverVersion: String
    }

    /// Starts the server unless it runs, then waits (with backoff, up to `timeout`) until it accepts a connection with
    /// the credentials of `.env`, and closes Dovetail's own databases to every other role (`ManagedDatabaseAccess`).
    @discardableResult
    public func start(timeout: Duration = .seconds(60), report: @escaping Reporter = { _ in }) async throws -> StartResult {
        let clock = ContinuousClock()
        let began = clock.now
        let manifest = try self.requireManifest()
        let credentials = try self.readCredentials()
        let engine = self.engine(manifest.engine)
        _ = try await engine.checkAvailable()

        let state = await engine.state(manifest)
        var mark: LaunchMark?
        if case .running(let detail) = state {
            report("PostgreSQL is already running (\(detail)).")
        } else {
            mark = try await engine.launch(manifest, report: report)
        }
        let details = try await self.waitUntilReady(manifest, credentials: credentials, engine: engine, mark: mark, timeout: timeout, report: report)
        // Every start, so servers made before this existed are closed to agents too.
        try await ManagedDatabaseAccess.restrict(credentials, port: manifest.port)
        let elapsed = began.duration(to: clock.now)
        if mark != nil {
            report("PostgreSQL \(details.version) accepts connections on 127.0.0.1:\(manifest.port) (ready in \(Self.format(elapsed))).")
        }
        return StartResult(alreadyRunning: mark == nil, readyAfter: elapsed, serverVersion: details.version)
    }

    /// Stops the server with a fast shutdown (open transactions are rolled back); the data is kept. Returns whether a
    /// running server was stopped.
    @discardableResult
    public func stop(report: @escaping Reporter = { _ in }) async throws -> Bool {
        let manifest = try self.requireManifest()
        let engine = self.engine(manifest.engine)
        _ = try await engine.checkAvailable()
        let state = await engine.state(manifest)
        if manifest.engine == .docker, !state.isRunning {
            report("PostgreSQL is not running.")
            return false
        }
        try await engine.stop(manifest, report: report)
        if state.isRunning {
            report("Stopped PostgreSQL; the data is kept in \(self.paths.dataDirectorySetting).")
        }
        return state.isRunning
    }

    @discardableResult
    public func restart(timeout: Duration = .seconds(60), report: @escaping Reporter = { _ in }) async throws -> StartResult {
        try await self.stop(report: report)
        return try await self.start(timeout: timeout, report: report)
    }

    /// Stops the server, deletes the data directory (and the docker engine's container and `compose.yml`), and removes
    /// the managed credentials from `.env`. The caller asks for confirmation first.
    public func purge(report: @escaping Reporter = { _ in }) async throws {
        let manifest = try ManagedPostgresManifest.load(self.paths)
        guard manifest != nil || FileManager.default.fileExists(atPath: self.paths.dataDirectory) else {
            throw ManagedPostgresError.notInitialised(directory: self.paths.dataDirectorySetting)
        }
        try await self.tearDown(manifest, report: report)
        if manifest?.engine == .docker, let contents = FileManager.default.contents(atPath: self.paths.composeFile),
            ComposeFile.isOurs(String(decoding: contents, as: UTF8.self))
        {
            try? FileManager.default.removeItem(atPath: self.paths.composeFile)
            report("Deleted \(self.paths.composeFile).")
        }
        report("Deleted \(self.paths.dataDirectorySetting) and all its data.")

        // The credentials of a server that no longer exists would only make the next `init` refuse to run.
        var keys = ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_PORT", ManagedPostgresPaths.dataDirectoryVariable]
        let values = (try? self.readEnvFile()) ?? [:]
        if let manifest, let url = values["DATABASE_URL"], case .postgres(let info)? = try? DatabaseURL(parsing: url),
            PostgresConnectionInfo.isManaged(info, port: manifest.port, user: values["POSTGRES_USER"])
        {
            keys.append("DATABASE_URL")
        }
        do {
            let change = try EnvFileWriter(path: self.paths.envFile).remove(keys, header: Self.envHeader)
            if !change.removed.isEmpty {
                report(Self.describe(change, path: self.paths.envFile))
                if change.removed.contains("DATABASE_URL") {
                    report("Without DATABASE_URL, dovetail uses SQLite again (\(DatabaseURL.defaultURLString)).")
                }
            }
        } catch {
            throw ManagedPostgresError.envFile(error.description)
        }
    }

    /// Stops whatever runs, removes the engine's leftovers and deletes the data directory.
    private func tearDown(_ manifest: ManagedPostgresManifest?, report: @escaping Reporter) async throws {
        if let manifest {
            let engine = self.engine(manifest.engine)
            if manifest.engine == .docker { _ = try await engine.checkAvailable() }
            let wasRunning = await engine.state(manifest).isRunning
            try await engine.stop(manifest, report: report)
            if wasRunning { report("Stopped PostgreSQL.") }
            try await engine.remove(manifest, report: report)
        } else if FileManager.default.fileExists(atPath: self.paths.clusterDirectory + "/postmaster.pid") {
            // A data directory made without dovetail's record of it: stop its server all the same.
            let stray = ManagedPostgresManifest(engine: .native, port: 0, runAs: nil, binDirectory: nil, image: nil, createdAt: "")
            try await self.engine(.native).stop(stray, report: report)
        }
        do {
            if FileManager.default.fileExists(atPath: self.paths.dataDirectory) {
                try FileManager.default.removeItem(atPath: self.paths.dataDirectory)
            }
        } catch {
            throw ManagedPostgresError.system("cannot delete \(self.paths.dataDirectorySetting): \(error.localizedDescription)")
        }
    }

    // MARK: - Waiting for connections

    private func waitUntilReady(
        _ manifest: ManagedPostgresManifest,
        credentials: PostgresCredentials,
        engine: any ManagedServerEngine,
        mark: LaunchMark?,
        timeout: Duration,
        report: Reporter
    ) async throws -> PostgresServerProbe.ServerDetails {
        let info = credentials.connectionInfo(port: manifest.port)
        let address = "127.0.0.1:\(manifest.port)"
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        // Short first: a native server is usually ready within half a second.
        var delay = Duration.milliseconds(20)
        var lastError = "no connection attempted"
        var triedToCreateDatabase = false
        while true {
            switch await PostgresServerProbe.probe(info, connectTimeout: .seconds(2)) {
            case .accepted(let details):
                return details
            case .wrongCredentials:
                throw ManagedPostgresError.wrongCredentials(user: credentials.user, address: address)
            case .databaseMissing:
                // initdb makes no database but `postgres`: the first start creates the one in .env.
                guard !triedToCreateDatabase else { throw ManagedPostgresError.databaseMissing(credentials.database, address: address) }
                triedToCreateDatabase = true
                let maintenance = credentials.connectionInfo(port: manifest.port, database: "postgres")
                if (try? await PostgresServerProbe.execute("CREATE DATABASE \(Self.quoteIdentifier(credentials.database))", on: maintenance)) != nil {
                    report("Created the database \(credentials.database).")
                }
                continue
            case .refused(let reason):
                throw ManagedPostgresError.cannotConnect(address: address, reason: reason)
            case .notReady(let reason):
                lastError = reason
            }
            if let mark, let failure = await engine.failureDuringStart(manifest, since: mark) {
                throw failure
            }
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else {
                throw ManagedPostgresError.startTimedOut(
                    after: timeout,
                    address: address,
                    lastError: lastError,
                    logTail: await engine.logTail(manifest, lines: 20)
                )
            }
            try await Task.sleep(for: min(delay, remaining))
            delay = min(delay * 3 / 2, .milliseconds(500))
        }
    }

    // MARK: - status, logs, url

    /// Every check `status` reports; never throws: what cannot be checked is reported as a problem.
    public func status() async -> ManagedPostgresStatus {
        var status = ManagedPostgresStatus(
            initialised: false,
            engine: nil,
            dataDirectory: self.paths.dataDirectorySetting,
            port: nil,
            url: nil,
            engineAvailable: false,
            engineDetail: "",
            serverRunning: false,
            serverDetail: "",
            acceptingConnections: false,
            connectionDetail: "",
            credentialsValid: nil,
            serverVersion: nil,
            schemaVersion: nil,
            latestSchemaVersion: Migrations.latestVersion,
            vectorAvailable: nil,
            vectorInstalled: nil,
            healthy: false,
            problems: []
        )
        let manifest: ManagedPostgresManifest
        do {
            guard let loaded = try ManagedPostgresManifest.load(self.paths) else {
                throw ManagedPostgresError.notInitialised(directory: self.paths.dataDirectorySetting)
            }
            manifest = loaded
        } catch {
            let kind = try? Self.defaultEngine()
            status.engine = kind
            status.engineAvailable = kind != nil
            status.engineDetail = kind == nil ? "neither PostgreSQL binaries nor docker found" : "would be used by `dovetail postgres init`"
            status.serverDetail = "not initialised"
            status.connectionDetail = "not initialised"
            status.problems.append(Self.message(error))
            return status
        }
        status.initialised = true
        status.engine = manifest.engine
        status.port = manifest.port
        let engine = self.engine(manifest.engine)
        do {
            status.engineDetail = try await engine.checkAvailable()
            status.engineAvailable = true
        } catch {
            status.engineDetail = Self.message(error)
            status.problems.append(Self.message(error))
        }
        let state = await engine.state(manifest)
        switch state {
        case .running(let detail): status.serverDetail = "\(detail), port \(manifest.port)"
        case .stopped: status.serverDetail = "stopped; start it with `dovetail postgres start`"
        case .crashed(let pid):
            status.serverDetail = "stopped without a clean shutdown (stale postmaster.pid of process \(pid)); `dovetail postgres start` recovers"
        case .staleLock(let pid, let holder): status.serverDetail = "postmaster.pid names process \(pid), which is \(holder): a stale lock file"
        case .unknown(let detail): status.serverDetail = "unknown: \(detail)"
        }
        status.serverRunning = state.isRunning

        let credentials: PostgresCredentials
        do {
            credentials = try self.readCredentials()
        } catch {
            status.problems.append(Self.message(error))
            status.connectionDetail = "not tried: no credentials"
            return status
        }
        let info = credentials.connectionInfo(port: manifest.port)
        status.url = info.redactedURLString
        let address = "127.0.0.1:\(manifest.port)"
        switch await PostgresServerProbe.probe(info) {
        case .accepted(let details):
            status.serverRunning = true
            status.acceptingConnections = true
            status.credentialsValid = true
            status.connectionDetail = "\(address), round trip \(Self.format(details.roundTrip))"
            status.serverVersion = details.version
            status.schemaVersion = details.schemaVersion
            status.vectorAvailable = details.vectorAvailable
            status.vectorInstalled = details.vectorInstalled
        case .wrongCredentials:
            status.acceptingConnections = true
            status.credentialsValid = false
            status.connectionDetail = address
            status.problems.append(ManagedPostgresError.wrongCredentials(user: credentials.user, address: address).message)
        case .databaseMissing:
            status.acceptingConnections = true
            status.credentialsValid = true
            status.connectionDetail = address
            status.problems.append(ManagedPostgresError.databaseMissing(credentials.database, address: address).message)
        case .refused(let reason):
            status.connectionDetail = "\(address): \(reason)"
            status.problems.append(ManagedPostgresError.cannotConnect(address: address, reason: reason).message)
        case .notReady(let reason):
            status.connectionDetail = "\(address): \(reason)"
            status.problems.append(
                status.serverRunning
                    ? ManagedPostgresError.cannotConnect(address: address, reason: reason).message
                    : "PostgreSQL is not running; start it with `dovetail postgres start`."
            )
        }
        status.healthy =
            status.engineAvailable && status.serverRunning && status.acceptingConnections && status.credentialsValid == true
            && status.problems.isEmpty
        return status
    }

    /// The last `lines` lines of the server log.
    public func logs(tail lines: Int) async throws -> String {
        let manifest = try self.requireManifest()
        return await self.engine(manifest.engine).logTail(manifest, lines: lines)
    }

    /// The last `tail` lines of the server log, then new lines as the server writes them, until the task is cancelled
    /// (native) or the user presses Ctrl-C (docker).
    public func followLogs(tail: Int, write: @escaping @Sendable (String) -> Void) async throws {
        let manifest = try self.requireManifest()
        try await self.engine(manifest.engine).followLogs(manifest, tail: tail, write: write)
    }

    /// How to reach the server with the credentials of `.env`. Holds the password: print `redactedURLString`.
    public func connectionInfo() throws -> PostgresConnectionInfo {
        let manifest = try self.requireManifest()
        return try self.readCredentials().connectionInfo(port: manifest.port)
    }

    // MARK: - Helpers

    private func requireManifest() throws(ManagedPostgresError) -> ManagedPostgresManifest {
        guard let manifest = try ManagedPostgresManifest.load(self.paths) else {
            throw .notInitialised(directory: self.paths.dataDirectorySetting)
        }
        return manifest
    }

    private func readEnvFile() throws(ManagedPostgresError) -> [String: String] {
        do {
            return try EnvironmentFile.load(path: self.paths.envFile)
        } catch {
            throw .envFile(error.message)
        }
    }

    /// The credentials `init` wrote to `.env` (the file, not the process environment: a `POSTGRES_PASSWORD` exported
    /// for some other server must not be tried against this one).
    func readCredentials() throws(ManagedPostgresError) -> PostgresCredentials {
        let values = try self.readEnvFile()
        let keys = ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"]
        let missing = keys.filter { (values[$0] ?? "").isEmpty }
        guard missing.isEmpty else { throw .credentialsMissing(envFile: self.paths.envFile, keys: missing) }
        return PostgresCredentials(user: values["POSTGRES_USER"]!, password: values["POSTGRES_PASSWORD"]!, database: values["POSTGRES_DB"]!)
    }

    static func quoteIdentifier(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func format(_ duration: Duration) -> String {
        let seconds = duration.inSeconds
        return seconds < 1 ? "\(Int((seconds * 1000).rounded())) ms" : String(format: "%.1f s", seconds)
    }

    private static func message(_ error: any Error) -> String {
        (error as? ManagedPostgresError)?.message ?? String(describing: error)
    }
}

extension PostgresConnectionInfo {
    /// Whether `info` points at the managed server (its port on the loopback interface, as its user).
    static func isManaged(_ info: PostgresConnectionInfo, port: Int, user: String?) -> Bool {
        info.port == port && (info.host == "127.0.0.1" || info.host == "localhost") && (user == nil || info.username == user)
    }
}
