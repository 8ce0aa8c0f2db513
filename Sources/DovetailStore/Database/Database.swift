import Foundation
import Logging
import SQLKit

/// The configured database: SQLite or PostgreSQL behind one interface.
///
/// Every repository takes a `Database` and runs its statements through `read` or `write`; errors
/// leave here as `StoreError`, whatever the backend.
public struct Database: Sendable {
    let engine: any DatabaseEngine
    public let url: DatabaseURL
    /// Card appends per project, batched; shared by every copy of this value, so every repository of
    /// one store feeds the same batches.
    let taskAppends = BatchingQueue<TaskCard, Int>()
    /// Card updates, batched the same way (one queue: updates need no board lock).
    let taskUpdates = BatchingQueue<TaskChange, TaskCard>(identity: { $0.id })

    public var dialect: Dialect { engine.dialect }

    /// How long an API request may wait for a batched write (see `DatabaseEngine.requestBound`).
    var requestBound: Duration? { engine.requestBound }

    /// Opens the database named by `url` without touching its schema.
    ///
    /// `readOnly` opens it so that the database itself refuses writes: SQLite through a `mode=ro` URI (the
    /// file must exist and is never created, converted to WAL or otherwise changed), PostgreSQL with
    /// `default_transaction_read_only` on every connection.
    public static func open(_ url: DatabaseURL, pool: PoolSettings = PoolSettings(), readOnly: Bool = false, logger: Logger) async throws -> Database {
        switch url {
        case .sqlite(let location):
            return Database(engine: try await SQLiteEngine.open(location, readOnly: readOnly, logger: logger), url: url)
        case .postgres(let info):
            return Database(engine: try PostgresEngine(info: info, pool: pool, readOnly: readOnly, logger: logger), url: url)
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await engine.read(body)
    }

    /// Runs `body` in one transaction: all of its statements commit together or not at all.
    public func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await engine.write(body)
    }

    /// Runs one of the reads the API repeats constantly; see `FrequentStatement`.
    func fetch<Statement: FrequentStatement>(_ statement: Statement) async throws -> [any SQLRow] {
        try await engine.fetch(statement)
    }

    /// Runs a single statement that is atomic by itself, with no explicit transaction: one round trip
    /// on PostgreSQL, one trip to the writer thread under the single-writer lock on SQLite (instead of
    /// three with `BEGIN` and `COMMIT`, which matters when writes queue for that lock).
    func writeStatement<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await engine.withSession(body)
    }

    func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        try await engine.withSession(body)
    }

    /// One round trip; returns how long it took.
    public func ping() async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        let statement = dialect.pingStatement
        _ = try await read { database in try await database.raw(SQLQueryString(statement)).all() }
        return start.duration(to: clock.now)
    }

    /// A listener on `channel` over a connection of its own; nil on engines one process has to itself.
    func channelListener(on channel: String, handler: @escaping @Sendable (ChannelEvent) -> Void) -> (any ChannelListener)? {
        engine.channelListener(on: channel, handler: handler)
    }

    public func shutdown() async {
        await engine.shutdown()
    }
}
