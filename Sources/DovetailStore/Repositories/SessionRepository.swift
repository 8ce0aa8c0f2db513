import SQLKit

/// Filters for session lists.
public struct SessionFilter: Sendable {
    public var status: SessionStatus?
    public var metadata: MetadataFilter
    public var createdAfter: Timestamp?
    public var createdBefore: Timestamp?

    public init(status: SessionStatus? = nil, metadata: MetadataFilter = MetadataFilter(), createdAfter: Timestamp? = nil, createdBefore: Timestamp? = nil) {
        self.status = status
        self.metadata = metadata
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
    }
}

/// Agent conversations. A deleted session is only marked; it disappears from reads at once and
/// retention purges it later.
public struct SessionRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns: SQLQueryString = """
        id, project_id, agent_id, user_id, title, status, metadata, last_message_ordinal, last_event_seq,
        last_viewed_at, deleted_at, created_at, updated_at
        """

    static func decode(_ row: any SQLRow) throws -> AgentSession {
        AgentSession(
            id: try row.decode(column: "id", as: String.self),
            projectId: try row.decode(column: "project_id", as: String.self),
            agentId: try row.decode(column: "agent_id", as: String?.self),
            userId: try row.decode(column: "user_id", as: String?.self),
            title: try row.decode(column: "title", as: String.self),
            status: SessionStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .active,
            metadata: try row.decode(column: "metadata", as: JSONDocument.self).value,
            messageCount: try row.decode(column: "last_message_ordinal", as: Int64.self),
            lastEventSeq: try row.decode(column: "last_event_seq", as: Int64.self),
            lastViewedAt: try row.decode(column: "last_viewed_at", as: Timestamp?.self),
            deletedAt: try row.decode(column: "deleted_at", as: Timestamp?.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self),
            updatedAt: try row.decode(column: "updated_at", as: Timestamp.self)
        )
    }

    public func create(_ input: NewSession) async throws -> AgentSession {
        let now = Timestamp.now()
        let session = AgentSession(
            id: UUIDv7.generate(),
            projectId: try Validation.id(input.projectId, field: "project_id"),
            agentId: try Validation.id(input.agentId, field: "agent_id"),
            userId: try input.userId.map { try Validation.text($0, field: "user_id", maxLength: 200) },
            title: try Validation.text(input.title ?? "", field: "title", maxLength: 1_000),
            status: .active,
            metadata: try Validation.object(input.metadata, field: "metadata"),
            messageCount: 0,
            lastEventSeq: 0,
            lastViewedAt: nil,
            deletedAt: nil,
            createdAt: now,
            updatedAt: now
        )
        try await database.write { sql in
            try await sql.requireRow(in: "projects", id: session.projectId, field: "project_id", what: "project")
            if let agentId = session.agentId {
                try await sql.requireRow(in: "agents", id: agentId, field: "agent_id", what: "agent")
            }
            try await sql.raw("""
                INSERT INTO sessions (id, project_id, agent_id, user_id, title, status, metadata, created_at, updated_at)
                VALUES (\(bind: session.id), \(bind: session.projectId), \(bind: session.agentId), \(bind: session.userId), \(bind: session.title),
                        \(bind: session.status.rawValue), \(bind: JSONDocument(session.metadata)), \(bind: now), \(bind: now))
                """).run()
        }
        return session
    }

    public func get(_ id: String) async throws -> AgentSession {
        try Validation.id(id, field: "id")
        let session = try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM sessions WHERE id = \(bind: id) AND deleted_at IS NULL").first().map(Self.decode)
        }
        guard let session else { throw StoreError.notFound("session", id: id) }
        return session
    }

    public func list(
        projectId: String? = nil, agentId: String? = nil, filter: SessionFilter = SessionFilter(), _ page: PageRequest = PageRequest()
    ) async throws -> Page<AgentSession> {
        try Validation.id(projectId, field: "project_id")
        try Validation.id(agentId, field: "agent_id")
        let limit = try page.validatedLimit()
        let after = try page.decodedCursor() ?? ""
        let dialect = database.dialect
        let rows = try await database.read { sql in
            try await sql.raw("""
                SELECT \(Self.columns) FROM sessions
                WHERE deleted_at IS NULL AND id > \(bind: after)
                  AND (\(bind: projectId == nil) OR project_id = \(bind: projectId ?? ""))
                  AND (\(bind: agentId == nil) OR agent_id = \(bind: agentId ?? ""))
                  AND (\(bind: filter.status == nil) OR status = \(bind: filter.status?.rawValue ?? ""))
                  AND (\(bind: filter.createdAfter == nil) OR created_at >= \(bind: filter.createdAfter ?? Timestamp(millisecondsSince1970: 0)))
                  AND (\(bind: filter.createdBefore == nil) OR created_at < \(bind: filter.createdBefore ?? Timestamp(millisecondsSince1970: 0)))
                  AND \(dialect.jsonContains(column: "metadata", filter.metadata))
                ORDER BY id LIMIT \(bind: limit + 1)
                """).all().map(Self.decode)
        }
        return PageRequest.page(rows, limit: limit, key: \.id)
    }

    public func update(_ id: String, _ patch: SessionPatch) async throws -> AgentSession {
        var session = try await get(id)
        let now = Timestamp.now()
        if let title = patch.title { session.title = try Validation.text(title, field: "title", maxLength: 1_000) }
        if let status = patch.status { session.status = status }
        if let metadata = patch.metadata { session.metadata = try Validation.object(metadata, field: "metadata") }
        if patch.markViewed == true { session.lastViewedAt = now }
        session.updatedAt = now
        let updated = session
        let found = try await database.write { sql in
            try await sql.raw("""
                UPDATE sessions SET title = \(bind: updated.title), status = \(bind: updated.status.rawValue),
                    metadata = \(bind: JSONDocument(updated.metadata)), last_viewed_at = \(bind: updated.lastViewedAt), updated_at = \(bind: now)
                WHERE id = \(bind: id) AND deleted_at IS NULL RETURNING id
                """).first() != nil
        }
        guard found else { throw StoreError.notFound("session", id: id) }
        return updated
    }

    /// Marks the session deleted; its messages and events go with it when retention purges it.
    public func delete(_ id: String) async throws {
        try Validation.id(id, field: "id")
        let now = Timestamp.now()
        let found = try await database.write { sql in
            try await sql.raw("""
                UPDATE sessions SET deleted_at = \(bind: now), updated_at = \(bind: now) WHERE id = \(bind: id) AND deleted_at IS NULL RETURNING id
                """).first() != nil
        }
        guard found else { throw StoreError.notFound("session", id: id) }
    }

    /// Takes the next value of a per-session counter. The `UPDATE` locks the session row on
    /// PostgreSQL and runs under the single writer on SQLite, so two appends never get one number.
    static func nextCounter(_ counter: String, session id: String, now: Timestamp, _ sql: any SQLDatabase) async throws -> Int64 {
        let row = try await sql.raw("""
            UPDATE sessions SET \(ident: counter) = \(ident: counter) + 1, updated_at = \(bind: now)
            WHERE id = \(bind: id) AND deleted_at IS NULL RETURNING \(ident: counter) AS value
            """).first()
        guard let row else { throw StoreError.notFound("session", id: id) }
        return try row.decode(column: "value", as: Int64.self)
    }
}
