import SQLKit

/// A backend that can run reads and write transactions; one per server process.
///
/// Both engines hand out `SQLDatabase` values created with query logging switched off, so bind
/// values (which may be secrets) never reach a log.
protocol DatabaseEngine: Sendable {
    var dialect: Dialect { get }
    /// Runs `body` outside an explicit transaction, on whichever connection the engine prefers.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body` inside a write transaction that commits when it returns and rolls back when it throws.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs `body` on one connection with no transaction, for statements that cannot run inside one.
    func withSession<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws -> T
    /// Runs a read the API repeats constantly (prepared once per connection on PostgreSQL).
    func fetch<Statement: FrequentStatement>(_ statement: Statement) async throws -> [any SQLRow]
    /// A listener on `channel` over a connection of its own, outside the pool; nil where other processes
    /// cannot announce anything (see `ChannelListener`).
    func channelListener(on channel: String, handler: @escaping @Sendable (ChannelEvent) -> Void) -> (any ChannelListener)?
    /// How long an API request may wait for a batched write; nil: as long as the batch takes (SQLite, whose
    /// single writer cannot become unreachable).
    var requestBound: Duration? { get }
    func shutdown() async
}
