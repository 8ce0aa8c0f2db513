/// What differs between the native and the docker engine. `ManagedPostgres` does the rest (credentials, `.env`,
/// waiting for connections, status) the same way for both.
protocol ManagedServerEngine: Sendable {
    /// Whether the engine's tools are installed and usable; a short description of them (for `status`), or the typed
    /// error saying what to install or start.
    func checkAvailable() async throws -> String

    /// Creates the server's files for a new installation and returns what later commands need to know.
    func prepare(_ setup: ServerSetup, report: ManagedPostgres.Reporter) async throws -> ManagedPostgresManifest

    /// Starts the server without waiting for it; returns a mark that `failureDuringStart` compares against.
    func launch(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws -> LaunchMark

    func state(_ manifest: ManagedPostgresManifest) async -> ServerState

    /// A server that has already given up starting (and why), so that `start` does not wait for its timeout.
    func failureDuringStart(_ manifest: ManagedPostgresManifest, since mark: LaunchMark) async -> ManagedPostgresError?

    /// Stops the server (fast shutdown: open transactions are rolled back, the data is kept).
    func stop(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws

    /// Removes what the engine keeps outside the data directory (containers); the caller deletes the data directory.
    func remove(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws

    func logTail(_ manifest: ManagedPostgresManifest, lines: Int) async -> String

    /// Shows the last `tail` lines of the log, then new lines as they come, until cancelled.
    func followLogs(_ manifest: ManagedPostgresManifest, tail: Int, write: @escaping @Sendable (String) -> Void) async throws
}

/// What `prepare` is given.
struct ServerSetup: Sendable {
    var credentials: PostgresCredentials
    var port: Int
    /// The system user to run the server as (native, as root); nil runs it as the current user.
    var runAs: SystemUser?
    var force: Bool
}

/// Where the server log stood when `launch` started the server.
struct LaunchMark: Sendable {
    var logOffset: UInt64
}

enum ServerState: Sendable, Equatable {
    case stopped
    /// With a short description (`pid 1234`, `container 3f2a…`).
    case running(String)
    /// `postmaster.pid` names a process that is gone: the server did not shut down cleanly.
    case crashed(pid: Int32)
    /// `postmaster.pid` names a live process that is not this server.
    case staleLock(pid: Int32, holder: String)
    /// The engine could not tell (the Docker daemon is down).
    case unknown(String)

    var isRunning: Bool {
        if case .running = self { return true }
        return false
    }
}
