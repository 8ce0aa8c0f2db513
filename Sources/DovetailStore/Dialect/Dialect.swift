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

    /// SQLite runs one write at a time, so a single statement sees a board no other writer can change
    /// under it. On PostgreSQL a statement's snapshot is taken before it waits for a lock, so a statement
    /// that waited for a board cannot trust what it read of it (see `TaskRepository.appendTogether`).
    var hasSingleWriter: Bool {
        switch self {
        case .sqlite: true
        case .postgres: false
        }
    }

    /// Takes a project's board for the rest of the write transaction; returns a row when the project exists.
    /// SQLite's single writer already serialises boards, so a read suffices. PostgreSQL writes the row (a
    /// no-op, HOT update) rather than only locking it: the new row version is how a single-statement
    /// append that started before this change learns that its snapshot of the board is out of date.
    func lockBoardStatement(_ projectId: String) -> SQLQueryString {
        switch self {
        case .sqlite: "SELECT id FROM projects WHERE id = \(bind: projectId)"
        case .postgres: "UPDATE projects SET id = id WHERE id = \(bind: projectId) RETURNING id"
        }
    }

    /// A statement yielding the project's id when this statement may append to its board, for a `WITH board AS
    /// (…)` in front of an append. SQLite: whenever the project exists (its single writer is the lock). PostgreSQL:
    /// takes the board row, but only if the row is still the version this statement's snapshot sees. Every board
    /// change writes that row first (`lockBoardStatement`), so if one committed after the snapshot was taken —
    /// even while this statement waited for the row — PostgreSQL re-checks the condition on the new version, it
    /// fails, and the append inserts nothing; run again after `lockBoardStatement` in the same transaction (which
    /// makes the row this transaction's own version), it always succeeds for an existing project.
    func boardForAppend(_ projectId: String) -> SQLQueryString {
        switch self {
        case .sqlite:
            "SELECT id FROM projects WHERE id = \(bind: projectId)"
        case .postgres:
            "UPDATE projects SET id = id WHERE id = \(bind: projectId) AND xmin = (SELECT p.xmin FROM projects p WHERE p.id = \(bind: projectId)) RETURNING id"
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

    /// Takes a background job's lock for the rest of the session without waiting; answers one row whose
    /// `locked` says whether this session holds it now. nil on SQLite: its file belongs to one `serve`
    /// process, so there is no other replica to keep out and the job just runs (`BackgroundJobLock`).
    func backgroundJobLockStatement(_ job: BackgroundJob) -> String? {
        switch self {
        case .sqlite: nil
        case .postgres: "SELECT pg_try_advisory_lock(\(job.lockKey)) AS locked"
        }
    }

    /// A cheap round trip for health checks.
    var pingStatement: String { "SELECT 1 AS one" }

    /// A `FrequentStatement`'s text as this server takes it: PostgreSQL numbers its parameters `$1…$n`,
    /// SQLite spells the same numbered parameters `?1…?n` (the text holds no other `$`).
    func frequentStatementText(_ text: String) -> String {
        switch self {
        case .sqlite: text.replacingOccurrences(of: "$", with: "?")
        case .postgres: text
        }
    }
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
