import SQLKit

public struct MessageRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static func decode(_ row: any SQLRow) throws -> Message {
        Message(
            id: try row.decode(column: "id", as: String.self),
            sessionId: try row.decode(column: "session_id", as: String.self),
            ordinal: try row.decode(column: "ordinal", as: Int64.self),
            role: MessageRole(rawValue: try row.decode(column: "role", as: String.self)) ?? .user,
            content: try row.decode(column: "content", as: String.self),
            metadata: try row.decode(column: "metadata", as: JSONDocument.self).value,
            createdAt: try row.decode(column: "created_at", as: Timestamp.self)
        )
    }

    /// Appends a message with the session's next ordinal (1, 2, 3, …).
    public func append(sessionId: String, _ input: NewMessage) async throws -> Message {
        try Validation.id(sessionId, field: "session_id")
        let now = Timestamp.now()
        let id = UUIDv7.generate()
        let content = try Validation.text(input.content, field: "content", maxLength: 900_000)
        let metadata = try Validation.object(input.metadata, field: "metadata")
        let ordinal = try await database.write { sql in
            let ordinal = try await SessionRepository.nextCounter("last_message_ordinal", session: sessionId, now: now, sql)
            try await sql.raw("""
                INSERT INTO messages (id, session_id, ordinal, role, content, metadata, created_at)
                VALUES (\(bind: id), \(bind: sessionId), \(bind: ordinal), \(bind: input.role.rawValue), \(bind: content),
                        \(bind: JSONDocument(metadata)), \(bind: now))
                """).run()
            return ordinal
        }
        return Message(id: id, sessionId: sessionId, ordinal: ordinal, role: input.role, content: content, metadata: metadata, createdAt: now)
    }

    public func list(sessionId: String, _ page: PageRequest = PageRequest()) async throws -> Page<Message> {
        try Validation.id(sessionId, field: "session_id")
        let limit = try page.validatedLimit()
        guard let after = Int64(try page.decodedCursor() ?? "0") else {
            throw StoreError.invalid("cursor is not a cursor this server issued; start again without it.", field: "cursor")
        }
        let rows = try await database.read { sql in
            guard try await sql.raw("SELECT 1 AS found FROM sessions WHERE id = \(bind: sessionId) AND deleted_at IS NULL").first() != nil else {
                throw StoreError.notFound("session", id: sessionId)
            }
            return try await sql.raw("""
                SELECT id, session_id, ordinal, role, content, metadata, created_at FROM messages
                WHERE session_id = \(bind: sessionId) AND ordinal > \(bind: after) ORDER BY ordinal LIMIT \(bind: limit + 1)
                """).all().map(Self.decode)
        }
        return PageRequest.page(rows, limit: limit) { String($0.ordinal) }
    }
}
