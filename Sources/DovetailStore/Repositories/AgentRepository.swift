import SQLKit

public struct AgentRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns: SQLQueryString =
        "id, project_id, name, kind, configuration, status, database_name, database_backend, last_error, created_at, updated_at"

    static func decode(_ row: any SQLRow) throws -> Agent {
        Agent(
            id: try row.decode(column: "id", as: String.self),
            projectId: try row.decode(column: "project_id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            kind: try row.decode(column: "kind", as: String.self),
            configuration: try row.decode(column: "configuration", as: JSONDocument.self).value,
            status: AgentStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            databaseName: try row.decode(column: "database_name", as: String?.self),
            databaseBackend: try row.decode(column: "database_backend", as: String?.self),
            lastError: try row.decode(column: "last_error", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self),
            updatedAt: try row.decode(column: "updated_at", as: Timestamp.self)
        )
    }

    public func create(_ input: NewAgent) async throws -> Agent {
        let now = Timestamp.now()
        let agent = Agent(
            id: UUIDv7.generate(),
            projectId: try Validation.id(input.projectId, field: "project_id"),
            name: try Validation.name(input.name),
            kind: try Validation.text(input.kind ?? "generic", field: "kind", maxLength: 100, allowEmpty: false),
            configuration: try Validation.object(input.configuration, field: "configuration"),
            status: .registered,
            databaseName: nil,
            databaseBackend: nil,
            lastError: nil,
            createdAt: now,
            updatedAt: now
        )
        do {
            try await database.write { sql in
                try await sql.requireRow(in: "projects", id: agent.projectId, field: "project_id", what: "project")
                try await sql.raw("""
                    INSERT INTO agents (id, project_id, name, kind, configuration, status, created_at, updated_at)
                    VALUES (\(bind: agent.id), \(bind: agent.projectId), \(bind: agent.name), \(bind: agent.kind),
                            \(bind: JSONDocument(agent.configuration)), \(bind: agent.status.rawValue), \(bind: now), \(bind: now))
                    """).run()
            }
        } catch let error as StoreError where error.kind == .conflict {
            throw StoreError.conflict("An agent named '\(agent.name)' already exists in this project.")
        }
        return agent
    }

    public func get(_ id: String) async throws -> Agent {
        try Validation.id(id, field: "id")
        let agent = try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM agents WHERE id = \(bind: id)").first().map(Self.decode)
        }
        guard let agent else { throw StoreError.notFound("agent", id: id) }
        return agent
    }

    /// The agent with this id, or else the only agent with this name in any project, so that the command
    /// line can take either. A name shared by agents of several projects is refused, naming their ids.
    public func get(idOrName text: String) async throws -> Agent {
        try Validation.id(text, field: "id")
        let found = try await database.read { sql in
            try await sql.raw("""
                SELECT \(Self.columns) FROM agents WHERE id = \(bind: text)
                UNION ALL SELECT \(Self.columns) FROM agents WHERE name = \(bind: text) AND id <> \(bind: text)
                ORDER BY id
                """).all().map(Self.decode)
        }
        if let exact = found.first(where: { $0.id == text }) { return exact }
        guard found.count <= 1 else {
            throw StoreError.conflict(
                "\(found.count) agents are named '\(text)' (in different projects): use one of their ids, \(found.map(\.id).joined(separator: ", "))."
            )
        }
        guard let agent = found.first else { throw StoreError.notFound("agent", id: text) }
        return agent
    }

    public func list(projectId: String? = nil, _ page: PageRequest = PageRequest()) async throws -> Page<Agent> {
        try Validation.id(projectId, field: "project_id")
        let limit = try page.validatedLimit()
        let after = try page.decodedCursor() ?? ""
        let rows = try await database.read { sql in
            try await sql.raw("""
                SELECT \(Self.columns) FROM agents
                WHERE id > \(bind: after) AND (\(bind: projectId == nil) OR project_id = \(bind: projectId ?? ""))
                ORDER BY id LIMIT \(bind: limit + 1)
                """).all().map(Self.decode)
        }
        return PageRequest.page(rows, limit: limit, key: \.id)
    }

    public func update(_ id: String, _ patch: AgentPatch) async throws -> Agent {
        var agent = try await get(id)
        if let name = patch.name { agent.name = try Validation.name(name) }
        if let kind = patch.kind { agent.kind = try Validation.text(kind, field: "kind", maxLength: 100, allowEmpty: false) }
        if let configuration = patch.configuration { agent.configuration = try Validation.object(configuration, field: "configuration") }
        if let status = patch.status { agent.status = status }
        if let lastError = patch.lastError { agent.lastError = try Validation.text(lastError, field: "last_error") }
        agent.updatedAt = .now()
        let updated = agent
        do {
            let found = try await database.write { sql in
                try await sql.raw("""
                    UPDATE agents SET name = \(bind: updated.name), kind = \(bind: updated.kind),
                        configuration = \(bind: JSONDocument(updated.configuration)), status = \(bind: updated.status.rawValue),
                        last_error = \(bind: updated.lastError), updated_at = \(bind: updated.updatedAt)
                    WHERE id = \(bind: id) RETURNING id
                    """).first() != nil
            }
            guard found else { throw StoreError.notFound("agent", id: id) }
        } catch let error as StoreError where error.kind == .conflict {
            throw StoreError.conflict("An agent named '\(updated.name)' already exists in this project.")
        }
        return updated
    }

    /// Records the outcome of a deploy, update or undeploy in one statement: status, the agent's
    /// database (name and backend; nil clears them) and the last error (nil clears it).
    @discardableResult
    public func recordDeployment(
        _ id: String, status: AgentStatus, databaseName: String?, databaseBackend: String?, lastError: String?
    ) async throws -> Agent {
        try Validation.id(id, field: "id")
        let now = Timestamp.now()
        let found = try await database.write { sql in
            try await sql.raw("""
                UPDATE agents SET status = \(bind: status.rawValue), database_name = \(bind: databaseName),
                    database_backend = \(bind: databaseBackend), last_error = \(bind: lastError), updated_at = \(bind: now)
                WHERE id = \(bind: id) RETURNING id
                """).first() != nil
        }
        guard found else { throw StoreError.notFound("agent", id: id) }
        return try await get(id)
    }

    public func delete(_ id: String) async throws {
        try Validation.id(id, field: "id")
        let found = try await database.write { sql in
            try await sql.raw("DELETE FROM agents WHERE id = \(bind: id) RETURNING id").first() != nil
        }
        guard found else { throw StoreError.notFound("agent", id: id) }
    }
}
