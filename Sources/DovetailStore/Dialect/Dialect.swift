import SQLKit

/// Everything that differs between SQLite and PostgreSQL, gathered in one place.
///
/// Repositories are written once against SQLKit; whenever a statement needs something the two
/// servers spell differently, they ask the dialect for it instead of branching themselves.
public enum Dialect: String, Sendable, CaseIterable {
    case sqlite
    case postgres

    /// Begins a write transaction. SQLite takes the write lock up front (`IMMEDIATE`) so that two
    /// writers queue on the busy timeout instead of failing with `SQLITE_BUSY` at their first write.
    var beginWriteTransaction: String {
        switch self {
        case .sqlite: "BEGIN IMMEDIATE"
        case .postgres: "BEGIN"
        }
    }

    /// Serialises writers of one logical resource (a project's board, a session's sequence).
    /// PostgreSQL takes a row lock; SQLite already has a single writer, so the plain read suffices.
    /// SQLite runs one write at a time, so a single statement sees a board no other writer can change
    /// under it; PostgreSQL needs the project's row lock, taken in a statement of its own (a statement's
    /// snapshot is taken before it waits for a lock, so it could not read the board after the wait).
    var hasSingleWriter: Bool {
        switch self {
        case .sqlite: true
        case .postgres: false
        }
    }

    func lockingSuffix() -> SQLQueryString {
        switch self {
        case .sqlite: ""
        case .postgres: " FOR UPDATE"
        }
    }

    /// Makes concurrent `migrate` runs from several processes apply each migration once.
    /// SQLite needs nothing more than `BEGIN IMMEDIATE`; PostgreSQL takes a transaction-scoped
    /// advisory lock that the commit releases.
    var migrationLockStatement: String? {
        switch self {
        case .sqlite: nil
        case .postgres: "SELECT pg_advisory_xact_lock(7413025118)"
        }
    }

    /// A cheap round trip for health checks.
    var pingStatement: String { "SELECT 1 AS one" }
}

extension Dialect {
    func tableExists(_ name: String, _ database: any SQLDatabase) async throws -> Bool {
        let query: SQLQueryString
        switch self {
        case .sqlite: query = "SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = \(bind: name)"
        case .postgres: query = "SELECT 1 AS found FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = \(bind: name)"
        }
        return try await database.raw(query).first() != nil
    }
}
