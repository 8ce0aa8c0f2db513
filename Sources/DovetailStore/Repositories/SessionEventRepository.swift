import SQLKit

/// The append-only event log of a session. `seq` is dense per session, so a client that saw
/// event N asks for `after=N` and misses nothing.
public struct SessionEventRepository: Sendable {
    let database: Database
    let notifier: SessionEventNotifier?

    public init(database: Database, notifier: SessionEventNotifier? = nil) {
        self.database = database
        self.notifier = notifier
    }

    static func decode(_ row: any SQLRow) throws -> SessionEvent {
        SessionEvent(
            id: try row.decode(column: "id", as: String.self),
            sessionId: try row.decode(column: "session_id", as: String.self),
            seq: try row.decode(column: "seq", as: Int64.self),
            type: try row.decode(column: "type", as: String.self),
            payload: try row.decode(column: "payload", as: JSONDocument.self).value,
            createdAt: try row.decode(column: "created_at", as: Timestamp.self)
        )
    }

    public func append(sessionId: String, _ input: NewSessionEvent) async throws -> SessionEvent {
        try Validation.id(sessionId, field: "session_id")
        let now = Timestamp.now()
        let id = UUIDv7.generate()
        let type = try Validation.text(input.type, field: "type", maxLength: 200, allowEmpty: false)
        let payload = try Validation.object(input.payload, field: "payload")
        let announcement = database.dialect.sessionEventNotification(sessionId)
        let seq = try await database.write { sql in
            let seq = try await SessionRepository.nextCounter("last_event_seq", session: sessionId, now: now, sql)
            try await sql.raw("""
                INSERT INTO session_events (id, session_id, seq, type, payload, created_at)
                VALUES (\(bind: id), \(bind: sessionId), \(bind: seq), \(bind: type), \(bind: JSONDocument(payload)), \(bind: now))
                """).run()
            if let announcement { try await sql.raw(announcement).run() }
            return seq
        }
        notifier?.didAppend(sessionId: sessionId)
        return SessionEvent(id: id, sessionId: sessionId, seq: seq, type: type, payload: payload, createdAt: now)
    }

    /// Events with `seq > after`, oldest first.
    public func list(sessionId: String, after: Int64 = 0, limit: Int = 100) async throws -> [SessionEvent] {
        try Validation.id(sessionId, field: "session_id")
        guard (1...PageRequest.maximumLimit).contains(limit) else {
            throw StoreError.invalid("limit must be between 1 and \(PageRequest.maximumLimit).", field: "limit")
        }
        guard after >= 0 else { throw StoreError.invalid("after must be zero or more.", field: "after") }
        return try await database.read { sql in
            guard try await sql.raw("SELECT 1 AS found FROM sessions WHERE id = \(bind: sessionId) AND deleted_at IS NULL").first() != nil else {
                throw StoreError.notFound("session", id: sessionId)
            }
            return try await sql.raw("""
                SELECT id, session_id, seq, type, payload, created_at FROM session_events
                WHERE session_id = \(bind: sessionId) AND seq > \(bind: after) ORDER BY seq LIMIT \(bind: limit)
                """).all().map(Self.decode)
        }
    }
}
