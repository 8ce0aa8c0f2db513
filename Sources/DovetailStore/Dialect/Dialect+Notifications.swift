import SQLKit

extension Dialect {
    /// The PostgreSQL channel on which every appended session event is announced (payload: the session
    /// id), so that live streams in every `serve` process wake at once instead of at their next poll.
    static let sessionEventChannel = "dovetail_session_events"

    /// A statement announcing that `sessionId` has a new event, to run inside the transaction that inserts it:
    /// PostgreSQL delivers a `pg_notify` only when that transaction commits, so no listener re-reads before the
    /// row is visible, and a rolled-back insert announces nothing. nil on SQLite, a single process's file whose
    /// streams are woken in-process (`SessionEventNotifier`).
    func sessionEventNotification(_ sessionId: String) -> SQLQueryString? {
        switch self {
        case .sqlite: nil
        case .postgres: "SELECT pg_notify(\(bind: Self.sessionEventChannel), \(bind: sessionId))"
        }
    }
}
