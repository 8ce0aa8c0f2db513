import Logging
import PostgresNIO

/// The background jobs of `serve` that must run in one replica at a time.
public enum BackgroundJob: String, Sendable, CaseIterable {
    /// Purging history older than `HISTORY_RETENTION_DAYS`.
    case retention
    /// Topping up the pool of spare agent databases (`AGENT_DB_SPARE_DATABASES`).
    case agentSpareDatabases = "agent-spare-databases"

    /// The advisory lock's key: fixed numbers next to the migration lock's (7413025118), so every version of
    /// Dovetail agrees on them. Advisory locks belong to one database, so two Dovetail databases on one
    /// server never share them.
    var lockKey: Int64 {
        switch self {
        case .retention: 7_413_025_119
        case .agentSpareDatabases: 7_413_025_120
        }
    }
}

/// Decides which replica runs a background job: on PostgreSQL, the one holding the job's advisory lock.
///
/// Why a session-level `pg_try_advisory_lock` held on a dedicated connection, rather than a transaction-level
/// lock around each run:
/// - The lock names the replica that runs the job for as long as that replica lives, so N replicas run the job
///   once per cycle. A lock taken per run would only stop runs from overlapping: every replica would still run
///   the job every cycle, one after the other.
/// - A retention purge commits a batch per transaction so that it never holds row locks for long; one
///   transaction around the whole run would undo that.
/// - When the holder dies (SIGKILL, OOM, a lost node), PostgreSQL ends its session and frees the lock, and
///   another replica takes it on its next cycle; a replica that stops gracefully releases it at once.
///
/// The connection is its own, outside the pool: it never counts against `POSTGRES_POOL_SIZE` and the lease
/// watchdog never reclaims it. It needs a real session, so `DATABASE_URL` must reach PostgreSQL directly or
/// through a pooler in session mode (PgBouncer's transaction mode would lend the lock to whoever runs next).
///
/// On SQLite the file belongs to one `serve` process: the lock is always held and the job just runs.
public final class BackgroundJobLock: Sendable {
    public let job: BackgroundJob
    private let holder: PostgresJobLockHolder?

    init(job: BackgroundJob, holder: PostgresJobLockHolder?) {
        self.job = job
        self.holder = holder
    }

    /// Whether this process should run the job now: true when it holds the lock, taking it if it is free
    /// (and, if it held it before, checking its session is still alive: a session lost with a PostgreSQL
    /// restart took the lock with it). Never waits for another replica and never throws: a database that
    /// cannot be reached means "not now", and the caller asks again on its next cycle.
    public func acquire() async -> Bool {
        guard let holder else { return true }
        return await holder.acquire()
    }

    /// Lets another replica take the job at once (on a graceful stop) by closing the lock's session.
    public func release() async {
        await holder?.release()
    }
}

extension Database {
    /// The lock deciding whether this process runs `job` (see `BackgroundJobLock`).
    public func backgroundJobLock(_ job: BackgroundJob, logger: Logger) -> BackgroundJobLock {
        guard let statement = dialect.backgroundJobLockStatement(job), case .postgres(let info) = url else {
            return BackgroundJobLock(job: job, holder: nil)
        }
        return BackgroundJobLock(job: job, holder: PostgresJobLockHolder(job: job, info: info, statement: statement, logger: logger))
    }
}

/// The PostgreSQL side of `BackgroundJobLock`: one connection, open while (and only while) it holds the lock.
actor PostgresJobLockHolder {
    private let job: BackgroundJob
    private let info: PostgresConnectionInfo
    private let statement: String
    private let logger: Logger
    private var connection: PostgresConnection?
    private var connections = 0
    private static let silent = Logger(label: "dovetail.job-lock", factory: { _ in SwiftLogNoOpLogHandler() })
    /// How long a check or an attempt may take: a server that does not answer within it is treated as gone.
    private static let deadline: Duration = .seconds(5)

    init(job: BackgroundJob, info: PostgresConnectionInfo, statement: String, logger: Logger) {
        self.job = job
        self.info = info
        self.statement = statement
        self.logger = logger
    }

    func acquire() async -> Bool {
        if let connection {
            if await Self.answers(connection) { return true }
            self.connection = nil
            try? await connection.close()
            logger.warning("Lost the \(job.rawValue) lock with its connection to PostgreSQL; this replica or another takes it over on its next cycle.")
        }
        let connection: PostgresConnection
        do {
            connection = try await connect()
        } catch {
            logger.debug("Could not connect to take the \(job.rawValue) lock; will try again next cycle", metadata: ["error": "\(String(describing: error))"])
            return false
        }
        let locked = await Self.tryLock(connection, statement: statement)
        guard locked else {
            // Held by another replica (or the server went away): keep no idle connection while standing by.
            try? await connection.close()
            return false
        }
        self.connection = connection
        logger.info("This replica runs the \(job.rawValue) job for all replicas (it holds the job's PostgreSQL advisory lock).")
        return true
    }

    func release() async {
        guard let connection else { return }
        self.connection = nil
        // Closing the session frees every advisory lock it holds.
        try? await connection.close()
    }

    private func connect() async throws -> PostgresConnection {
        var configuration = try info.connectionConfiguration()
        configuration.options.connectTimeout = .seconds(5)
        // Named in pg_stat_activity, so an operator can see which replica holds which job.
        configuration.options.additionalStartupParameters = [("application_name", "\(info.applicationName) \(job.rawValue) lock")]
        connections += 1
        return try await PostgresConnection.connect(configuration: configuration, id: connections, logger: Self.silent)
    }

    /// True when the connection answers a round trip within the deadline (its session, and so the lock, lives).
    private static func answers(_ connection: PostgresConnection) async -> Bool {
        guard !connection.isClosed else { return false }
        return await withDeadline(on: connection) {
            _ = try await connection.query("SELECT 1", logger: silent).collect()
            return true
        } ?? false
    }

    private static func tryLock(_ connection: PostgresConnection, statement: String) async -> Bool {
        await withDeadline(on: connection) {
            for try await locked in try await connection.query(PostgresQuery(unsafeSQL: statement), logger: silent).decode(Bool.self) {
                return locked
            }
            return false
        } ?? false
    }

    /// Runs `body`; nil when it fails or takes longer than `deadline`, in which case the connection is closed
    /// (which also ends a statement stuck on a server that stopped answering).
    private static func withDeadline<T: Sendable>(
        on connection: PostgresConnection, _ body: @escaping @Sendable () async throws -> T
    ) async -> T? {
        await withTaskGroup(of: T?.self) { group in
            group.addTask { try? await body() }
            group.addTask {
                try? await Task.sleep(for: deadline)
                if !Task.isCancelled { try? await connection.close() }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
