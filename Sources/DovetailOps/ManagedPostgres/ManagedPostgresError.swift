import Foundation

/// Why the managed PostgreSQL could not do what was asked, in words that say what to do next.
///
/// A struct over a private enum (as Hummingbird's `PersistError`), so cases can be added without breaking callers and
/// every message is written here, in one place that keeps the promise users rely on: no message ever holds a password.
/// Server log tails and command output are included as they are: neither PostgreSQL nor Docker writes the password
/// there, since it only ever reaches them through files.
public struct ManagedPostgresError: Error, Sendable, CustomStringConvertible {
    private enum Base: Sendable {
        case binariesNotFound(lookedIn: [String])
        case dockerNotInstalled
        case dockerDaemonNotRunning(detail: String)
        case dockerComposeNotInstalled(detail: String)
        case portInUse(port: Int)
        case startTimedOut(seconds: Double, address: String, lastError: String, logTail: String)
        case serverExited(logFile: String, logTail: String)
        case cannotConnect(address: String, reason: String)
        case wrongCredentials(user: String, address: String)
        case databaseMissing(database: String, address: String)
        case alreadyInitialised(directory: String, engine: ManagedPostgresEngine)
        case notInitialised(directory: String)
        case existingCredentials(envFile: String, keys: [String])
        case credentialsMissing(envFile: String, keys: [String])
        case staleLockFile(path: String, pid: Int32, holder: String)
        case commandFailed(command: String, status: Int32, output: String)
        case runAsNeedsRoot(user: String)
        case userNotFound(user: String)
        case dataDirectoryNotReachable(directory: String, user: String)
        case composeFileNotOurs(path: String)
        case envFile(String)
        case system(String)
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    static func binariesNotFound(lookedIn: [String]) -> Self { .init(.binariesNotFound(lookedIn: lookedIn)) }
    static var dockerNotInstalled: Self { .init(.dockerNotInstalled) }
    static func dockerDaemonNotRunning(detail: String) -> Self { .init(.dockerDaemonNotRunning(detail: detail)) }
    static func dockerComposeNotInstalled(detail: String) -> Self { .init(.dockerComposeNotInstalled(detail: detail)) }
    static func portInUse(_ port: Int) -> Self { .init(.portInUse(port: port)) }
    static func startTimedOut(after timeout: Duration, address: String, lastError: String, logTail: String) -> Self {
        .init(.startTimedOut(seconds: timeout.inSeconds, address: address, lastError: lastError, logTail: logTail))
    }
    static func serverExited(logFile: String, logTail: String) -> Self { .init(.serverExited(logFile: logFile, logTail: logTail)) }
    static func cannotConnect(address: String, reason: String) -> Self { .init(.cannotConnect(address: address, reason: reason)) }
    static func wrongCredentials(user: String, address: String) -> Self { .init(.wrongCredentials(user: user, address: address)) }
    static func databaseMissing(_ database: String, address: String) -> Self { .init(.databaseMissing(database: database, address: address)) }
    static func alreadyInitialised(directory: String, engine: ManagedPostgresEngine) -> Self {
        .init(.alreadyInitialised(directory: directory, engine: engine))
    }
    static func notInitialised(directory: String) -> Self { .init(.notInitialised(directory: directory)) }
    static func existingCredentials(envFile: String, keys: [String]) -> Self { .init(.existingCredentials(envFile: envFile, keys: keys)) }
    static func credentialsMissing(envFile: String, keys: [String]) -> Self { .init(.credentialsMissing(envFile: envFile, keys: keys)) }
    static func staleLockFile(path: String, pid: Int32, holder: String) -> Self { .init(.staleLockFile(path: path, pid: pid, holder: holder)) }
    static func commandFailed(_ command: Command, result: CommandResult) -> Self {
        .init(.commandFailed(command: command.description, status: result.status, output: result.outputTail()))
    }
    static func runAsNeedsRoot(user: String) -> Self { .init(.runAsNeedsRoot(user: user)) }
    static func userNotFound(_ user: String) -> Self { .init(.userNotFound(user: user)) }
    static func dataDirectoryNotReachable(_ directory: String, user: String) -> Self {
        .init(.dataDirectoryNotReachable(directory: directory, user: user))
    }
    static func composeFileNotOurs(path: String) -> Self { .init(.composeFileNotOurs(path: path)) }
    static func envFile(_ problem: String) -> Self { .init(.envFile(problem)) }
    static func system(_ message: String) -> Self { .init(.system(message)) }

    /// A stable identifier of the problem (`port_in_use`), for `--json` output and for tests.
    public var code: String {
        switch self.base {
        case .binariesNotFound: "binaries_not_found"
        case .dockerNotInstalled: "docker_not_installed"
        case .dockerDaemonNotRunning: "docker_daemon_not_running"
        case .dockerComposeNotInstalled: "docker_compose_not_installed"
        case .portInUse: "port_in_use"
        case .startTimedOut: "start_timed_out"
        case .serverExited: "server_exited"
        case .cannotConnect: "cannot_connect"
        case .wrongCredentials: "wrong_credentials"
        case .databaseMissing: "database_missing"
        case .alreadyInitialised: "already_initialised"
        case .notInitialised: "not_initialised"
        case .existingCredentials: "existing_credentials"
        case .credentialsMissing: "credentials_missing"
        case .staleLockFile: "stale_lock_file"
        case .commandFailed: "command_failed"
        case .runAsNeedsRoot: "run_as_needs_root"
        case .userNotFound: "user_not_found"
        case .dataDirectoryNotReachable: "data_directory_not_reachable"
        case .composeFileNotOurs: "compose_file_not_ours"
        case .envFile: "env_file"
        case .system: "system"
        }
    }

    /// The server could not be reached (as opposed to a mistake in what was asked): the CLI exits 3 for these.
    public var isUnavailable: Bool {
        switch self.base {
        case .startTimedOut, .serverExited, .cannotConnect, .dockerDaemonNotRunning: true
        default: false
        }
    }

    public var description: String { self.message }

    public var message: String {
        switch self.base {
        case .binariesNotFound(let lookedIn):
            return "PostgreSQL server binaries (initdb, pg_ctl) not found; looked in \(lookedIn.joined(separator: ", ")). "
                + "Install them (Debian/Ubuntu: `apt-get install -y postgresql`; Fedora: `dnf install postgresql-server`; "
                + "macOS: `brew install postgresql@17`), set PG_BIN_DIR to the directory holding initdb, or use --engine docker."
        case .dockerNotInstalled:
            return "Docker is not installed (no `docker` on PATH). Install Docker Engine or Docker Desktop "
                + "(https://docs.docker.com/engine/install/), or use --engine native."
        case .dockerDaemonNotRunning(let detail):
            return "the Docker daemon is not running or not reachable (\(detail)). Start it (`systemctl start docker`, or open "
                + "Docker Desktop) and check that this user may use it (the `docker` group), then try again."
        case .dockerComposeNotInstalled(let detail):
            return "the Docker Compose plugin is not installed (`docker compose version` failed: \(detail)). Install it "
                + "(Debian/Ubuntu: `apt-get install -y docker-compose-plugin`), then try again."
        case .portInUse(let port):
            return "port \(port) on 127.0.0.1 is already in use by another program (perhaps another PostgreSQL). Stop that "
                + "program, or choose another port: `dovetail postgres init --force --port <port>` (this deletes the managed data)."
        case .startTimedOut(let seconds, let address, let lastError, let logTail):
            return "PostgreSQL at \(address) did not accept connections within \(Self.format(seconds: seconds)) (last error: \(lastError)). "
                + "Try a longer --timeout, or look at the server log.\(Self.logSection(logTail))"
        case .serverExited(let logFile, let logTail):
            return "PostgreSQL stopped while starting; see \(logFile).\(Self.logSection(logTail))"
        case .cannotConnect(let address, let reason):
            return "cannot connect to PostgreSQL at \(address): \(reason). Is it running? (`dovetail postgres status`)"
        case .wrongCredentials(let user, let address):
            return "PostgreSQL at \(address) refused the password of user '\(user)': the credentials in .env do not match the "
                + "server's. Restore the .env that `dovetail postgres init` wrote, or start over with `dovetail postgres init --force`."
        case .databaseMissing(let database, let address):
            return "PostgreSQL at \(address) has no database '\(database)' (POSTGRES_DB in .env). Create it with "
                + "`createdb`, or fix POSTGRES_DB and DATABASE_URL in .env."
        case .alreadyInitialised(let directory, let engine):
            return "a managed PostgreSQL (\(engine.rawValue)) is already initialised in \(directory). Use `dovetail postgres start`, "
                + "or `dovetail postgres init --force` to delete it and start over with new credentials."
        case .notInitialised(let directory):
            return "no managed PostgreSQL in \(directory). Run `dovetail postgres init` first (or pass --data-dir)."
        case .existingCredentials(let envFile, let keys):
            return "\(envFile) already holds PostgreSQL credentials (\(keys.joined(separator: ", "))); they are not replaced silently. "
                + "Re-run with --force to replace them (the old file is kept as \(envFile).bak)."
        case .credentialsMissing(let envFile, let keys):
            return "\(envFile) lacks \(keys.joined(separator: ", ")), the credentials of the managed PostgreSQL. Restore the .env "
                + "that `dovetail postgres init` wrote, or start over with `dovetail postgres init --force`."
        case .staleLockFile(let path, let pid, let holder):
            return "\(path) names process \(pid), which is \(holder), not this PostgreSQL: the lock file is stale (left by a "
                + "server that did not shut down cleanly). Make sure no PostgreSQL uses this data directory, delete the file, and start again."
        case .commandFailed(let command, let status, let output):
            return "`\(command)` failed (exit status \(status))" + (output.isEmpty ? "." : ":\n\(output)")
        case .runAsNeedsRoot(let user):
            return "--run-as \(user) needs root: only root can run the server as another user. Leave --run-as out to run it as yourself."
        case .userNotFound(let user):
            return "the system user '\(user)' does not exist. Create it (`useradd --system --home-dir /var/lib/postgresql \(user)`), "
                + "or pass --run-as with an existing user. PostgreSQL refuses to run as root."
        case .dataDirectoryNotReachable(let directory, let user):
            return "user '\(user)', which runs the server, cannot reach \(directory): a parent directory is not searchable by it "
                + "(e.g. /root is mode 0700). Use a --data-dir it can reach (e.g. /var/lib/dovetail/postgres or under /srv), "
                + "or allow it through with `chmod o+x` on the parent directories."
        case .composeFileNotOurs(let path):
            return "\(path) exists and was not written by dovetail; it is left alone. Move it away, or pass --force to replace it."
        case .envFile(let problem):
            return problem
        case .system(let message):
            return message
        }
    }

    private static func logSection(_ tail: String) -> String {
        let trimmed = tail.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "" : "\nLast lines of the server log:\n\(trimmed)"
    }

    private static func format(seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.1f s", seconds)
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    var inSeconds: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}
