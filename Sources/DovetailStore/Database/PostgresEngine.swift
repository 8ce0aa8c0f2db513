import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit
import Synchronization

/// PostgreSQL through one `PostgresClient` pool, sized and guarded from the environment.
///
/// The pool reconnects by itself when the server comes back; this engine adds what it lacks:
/// a lease timeout (so a request fails with 503 instead of hanging) and a fast-fail window while
/// the server is known to be down.
final class PostgresEngine: DatabaseEngine {
    let dialect = Dialect.postgres
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let info: PostgresConnectionInfo
    private let pool: PoolSettings
    private let logger: Logger
    private let outage: OutageWindow
    private let watchdog = LeaseWatchdog()
    private let reachability: ServerReachability

    init(info: PostgresConnectionInfo, pool: PoolSettings, readOnly: Bool = false, logger: Logger) throws {
        self.info = info
        self.pool = pool
        self.logger = logger
        self.outage = OutageWindow(logger: logger, address: info.displayAddress)
        var configuration = try Self.clientConfiguration(info)
        configuration.options.maximumConnections = pool.maximumConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectionIdleTimeout = pool.recycle
        configuration.options.keepAliveBehavior = pool.prePing ? .init(frequency: .seconds(30)) : nil
        configuration.options.connectTimeout = .seconds(10)
        configuration.options.additionalStartupParameters = Self.startupParameters(info: info, pool: pool)
        if readOnly {
            // Every transaction on every connection starts READ ONLY: the server refuses writes, whatever the code does.
            configuration.options.additionalStartupParameters.append(("default_transaction_read_only", "on"))
        }
        let client = PostgresClient(configuration: configuration, backgroundLogger: Logger(label: "dovetail.postgres.pool", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.client = client
        self.runTask = Task { await client.run() }
        let reachability = ServerReachability(info: info)
        self.reachability = reachability
        watchdog.onSlowWait { [outage, watchdog] in
            reachability.check {
                outage.open()
                watchdog.expireWaiting()
            }
        }
    }

    /// Server-side guards sent in the startup packet, so every pooled connection has them from the start.
    static func startupParameters(info: PostgresConnectionInfo, pool: PoolSettings) -> [(String, String)] {
        [
            ("application_name", info.applicationName),
            ("TimeZone", "UTC"),
            ("statement_timeout", "\(pool.statementTimeout.milliseconds)"),
            ("idle_in_transaction_session_timeout", "\(pool.idleInTransactionTimeout.milliseconds)"),
        ]
    }

    static func clientConfiguration(_ info: PostgresConnectionInfo) throws -> PostgresClient.Configuration {
        if let directory = info.unixSocketDirectory {
            return PostgresClient.Configuration(
                unixSocketPath: "\(directory)/.s.PGSQL.\(info.port)", username: info.username, password: info.password, database: info.database
            )
        }
        let tls: PostgresClient.Configuration.TLS
        switch info.sslMode {
        case .disable: tls = .disable
        case .allow, .prefer: tls = .prefer(Self.tlsConfiguration(verify: false))
        case .require: tls = .require(Self.tlsConfiguration(verify: false))
        case .verifyCA, .verifyFull: tls = .require(Self.tlsConfiguration(verify: true))
        }
        return PostgresClient.Configuration(
            host: info.host, port: info.port, username: info.username, password: info.password, database: info.database, tls: tls
        )
    }

    /// `require` encrypts without checking the certificate, as libpq does; `verify-*` checks it.
    static func tlsConfiguration(verify: Bool) -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if !verify { configuration.certificateVerification = .none }
        return configuration
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withLease { connection in
            try await body(connection.sql(queryLogLevel: nil))
        }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withLease { connection in
            let database = connection.sql(queryLogLevel: nil)
            try await database.raw(SQLQueryString(self.dialect.beginWriteTransaction)).run()
            do {
                let result = try await body(database)
                try await database.raw("COMMIT").run()
                return result
            } catch {
                try? await database.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await withLease { connection in try await body(connection.sql(queryLogLevel: nil)) }
    }

    func fetch<Statement: FrequentStatement>(_ statement: Statement) async throws -> [any SQLRow] {
        let prepared = PreparedFrequentStatement(statement: statement)
        guard pool.preparedStatements else {
            // POSTGRES_PREPARED_STATEMENTS=false: the same statement, unnamed, parsed on every call.
            let query = PostgresQuery(unsafeSQL: dialect.frequentStatementText(Statement.text), binds: try prepared.makeBindings())
            return try await withLease { connection in try await Self.collect(connection.query(query, logger: Self.silentLogger)) }
        }
        return try await withLease { connection in try await Self.collect(connection.execute(prepared, logger: Self.silentLogger)) }
    }

    /// Rows as `PostgresResultRow`s. The logger passed with the statement is silent, not the engine's:
    /// PostgresNIO would log the bound values, which may be secrets.
    private static func collect<Rows: AsyncSequence>(_ rows: Rows) async throws -> [any SQLRow] where Rows.Element == PostgresRow {
        var collected: [any SQLRow] = []
        for try await row in rows { collected.append(PostgresResultRow(row)) }
        return collected
    }

    private static let silentLogger = Logger(label: "dovetail.postgres.statements", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Runs `body` on one leased connection, for work that needs PostgresNIO itself (`COPY FROM STDIN`,
    /// cursors). Errors `body` throws other than driver errors pass through untranslated. Bulk work has no
    /// execution limit: a copy may run for an hour.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withLease(bounded: false, body)
    }

    /// How long work on a granted connection may take before the caller is answered 503 and the connection
    /// closed. Outside requests: the server's own `statement_timeout` plus a margin, so it fires only when the
    /// server stopped answering altogether (a frozen host, a dropped network), never before the server would
    /// have cancelled a slow statement itself; without a statement timeout, the pool timeout plus that margin.
    /// A request of the API (`DatabaseWork.interactive`) gets the pool timeout: observed under repeated
    /// restarts, a statement on a fresh connection can wait for an answer that never comes, and the
    /// request must still be answered within that bound.
    var executionLimit: Duration {
        if DatabaseWork.interactive { return pool.timeout }
        return (pool.statementTimeout > .zero ? pool.statementTimeout : pool.timeout) + .seconds(5)
    }

    /// Leases a connection and runs `body` on it, answering the caller within bounds whatever the server
    /// does: the wait for a connection gives up after the pool timeout (after 1 s while the server is known
    /// to be down, and at once for everyone waiting when it is found down), and the work after
    /// `executionLimit` (`LeaseWatchdog`).
    private func withLease<T: Sendable>(
        bounded: Bool = true, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let timeout = outage.isOpen ? min(pool.timeout, Self.outageLeaseTimeout) : pool.timeout
        let limit = bounded ? executionLimit : nil
        let client = self.client
        do {
            // A request's operation, wait and work together, ends within the pool timeout.
            let total = bounded && DatabaseWork.interactive ? pool.timeout : nil
            let result = try await watchdog.run(leaseTimeout: timeout, executionLimit: limit, totalLimit: total) { granted in
                try await client.withConnection { connection in
                    guard granted({ Task { try? await connection.close() } }) else { throw LeaseTimeout() }
                    return try await body(connection)
                }
            }
            outage.close()
            return result
        } catch {
            if Self.meansServerUnreachable(error) {
                outage.open()
                // A lease timeout may mean a busy pool rather than a dead server: only a definite sign of a
                // dead server answers everyone who waits at once.
                if !(error is LeaseTimeout) { watchdog.expireWaiting() }
            }
            throw Self.translate(error, info: info)
        }
    }

    /// The wait for a connection while the server is known to be down: long enough for a connection to a
    /// server that just came back, short enough to be the fast 503 the API promises during an outage.
    static let outageLeaseTimeout: Duration = .seconds(1)

    func channelListener(on channel: String, handler: @escaping @Sendable (ChannelEvent) -> Void) -> (any ChannelListener)? {
        let info = self.info
        return PostgresChannelListener(channel: channel, address: info.displayAddress, logger: logger, connect: {
            try await PostgresConnection.connect(configuration: try Self.listenerConfiguration(info), id: 0, logger: Self.silentLogger)
        }, handler: handler)
    }

    /// How long one API request may wait for a batched write (`BatchingQueue`): the pool timeout, the
    /// bound of each of its operations.
    var requestBound: Duration? { DatabaseWork.interactive ? pool.timeout : nil }

    func shutdown() async {
        runTask.cancel()
        await runTask.value
    }

    struct LeaseTimeout: Error {}
    struct ExecutionTimeout: Error {}

    static func meansServerUnreachable(_ error: any Error) -> Bool {
        if error is LeaseTimeout || error is ExecutionTimeout || error is ConnectionPoolError { return true }
        guard let psqlError = error as? PSQLError else { return false }
        if psqlError.code == .server, let state = psqlError.serverInfo?[.sqlState] {
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
        }
        return [.connectionError, .serverClosedConnection, .uncleanShutdown].contains(psqlError.code)
    }

    /// SQLSTATE classes that say the server, not the statement, is the problem: connection exceptions
    /// (08), insufficient resources such as a full disk or too many connections (53), operator
    /// intervention such as a shutdown (57P0x), system errors (58). Retrying later may succeed: 503.
    static func isUnavailability(_ state: String) -> Bool {
        state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P") || state.hasPrefix("58")
    }

    static func translate(_ error: any Error, info: PostgresConnectionInfo) -> any Error {
        if error is StoreError { return error }
        let server = "PostgreSQL at \(info.displayAddress)"
        if error is LeaseTimeout {
            return StoreError.unavailable("\(server) did not provide a connection in time; it may be down or overloaded. Retry shortly.")
        }
        if error is ExecutionTimeout {
            return StoreError.unavailable("\(server) stopped answering; the request was abandoned and its connection closed. Retry shortly.")
        }
        if error is ConnectionPoolError || error is CancellationError {
            return StoreError.unavailable("\(server) is unreachable; retry shortly.")
        }
        if let transactionError = error as? PostgresTransactionError {
            return translate(transactionError.closureError ?? transactionError.beginError ?? transactionError.commitError ?? error, info: info)
        }
        guard let psqlError = error as? PSQLError else { return error }
        switch psqlError.code {
        case .server:
            return translateServerError(psqlError, server: server)
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection, .poolClosed:
            return StoreError.unavailable("\(server) closed the connection; retry shortly.")
        case .queryCancelled:
            return StoreError.unavailable("The query was cancelled; retry shortly.")
        default:
            return StoreError(.internalFailure, "PostgreSQL failed (\(psqlError.code)).")
        }
    }

    static func translateServerError(_ error: PSQLError, server: String) -> any Error {
        let state = error.serverInfo?[.sqlState] ?? ""
        let constraint = error.serverInfo?[.constraintName] ?? "a constraint"
        switch state {
        case "23505": return StoreError.conflict("That value is already taken (\(constraint)).")
        case "23503": return StoreError.invalid("A referenced row does not exist (\(constraint)).")
        case "23514", "23502", "22P02", "22001": return StoreError.invalid("A value breaks a rule of the data model (\(constraint)).")
        // NUL or a character the database encoding cannot hold: the client's input, so a 422 as SQLite
        // gives, never a 500. Repositories refuse NUL first (Validation); this catches any path they miss.
        case "22021", "22P05": return StoreError.invalid("A value contains a character the database cannot store, such as NUL (\\u0000).")
        case "57014": return StoreError.unavailable("The query ran longer than POSTGRES_STATEMENT_TIMEOUT allows; retry or raise the limit.")
        case "40001", "40P01": return StoreError.unavailable("The database resolved a conflict between concurrent writes; retry.")
        case "57P01", "57P02", "57P03", "53300": return StoreError.unavailable("\(server) is shutting down, starting up or out of connections; retry shortly.")
        default:
            if isUnavailability(state) {
                return StoreError.unavailable("\(server) cannot serve requests right now (SQLSTATE \(state)); retry shortly.")
            }
            return StoreError(.internalFailure, "PostgreSQL refused the statement (SQLSTATE \(state)): \(error.serverInfo?[.message] ?? "no message").")
        }
    }
}

/// Remembers that the server was recently unreachable, so that requests made during an outage
/// fail within seconds instead of each waiting out the full pool timeout.
///
/// It also says so in the log, once each way: a warning when the server is found down, an info line when it
/// answers again (every path that learns either calls `open` or `close`, so the lines cannot be missed or doubled).
final class OutageWindow: Sendable {
    private struct State {
        var openedAt: ContinuousClock.Instant?
        /// Down since the last `open` and not yet seen answering: the log lines follow this, not the window,
        /// which expires by itself.
        var down = false
    }

    private let state = Mutex(State())
    private static let length: Duration = .seconds(5)
    private let logger: Logger
    private let address: String

    init(logger: Logger, address: String) {
        self.logger = logger
        self.address = address
    }

    var isOpen: Bool {
        state.withLock { state in
            guard let instant = state.openedAt else { return false }
            return instant.duration(to: .now) < Self.length
        }
    }

    func open() {
        let wasUp = state.withLock { state in
            defer { state.openedAt = .now; state.down = true }
            return !state.down
        }
        if wasUp { logger.warning("PostgreSQL at \(address) is unreachable; requests fail fast with 503 until it answers again.") }
    }

    /// Called after every successful operation: one lock, nothing else, while the server is up.
    func close() {
        let wasDown = state.withLock { state in
            defer { state = State() }
            return state.down
        }
        if wasDown { logger.info("PostgreSQL at \(address) answers again.") }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let parts = components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }
}

extension PostgresConnectionInfo {
    /// `host:port/database` or the socket directory; never the password.
    var displayAddress: String {
        if let directory = unixSocketDirectory { return "\(directory) (database \(database))" }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(shownHost):\(port)/\(database)"
    }
}
