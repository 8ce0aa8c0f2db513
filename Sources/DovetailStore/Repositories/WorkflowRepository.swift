import SQLKit

public struct WorkflowRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns: SQLQueryString = "id, project_id, handle, name, description, archived, last_version, created_at, updated_at"

    static func decode(_ row: any SQLRow) throws -> Workflow {
        Workflow(
            id: try row.decode(column: "id", as: String.self),
            projectId: try row.decode(column: "project_id", as: String.self),
            handle: try row.decode(column: "handle", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            description: try row.decode(column: "description", as: String.self),
            archived: try row.decode(column: "archived", as: Bool.self),
            latestVersion: try row.decode(column: "last_version", as: Int64.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self),
            updatedAt: try row.decode(column: "updated_at", as: Timestamp.self)
        )
    }

    static func decodeVersion(_ row: any SQLRow) throws -> WorkflowVersion {
        WorkflowVersion(
            id: try row.decode(column: "id", as: String.self),
            workflowId: try row.decode(column: "workflow_id", as: String.self),
            version: try row.decode(column: "version", as: Int64.self),
            definition: try row.decode(column: "definition", as: JSONDocument.self).value,
            createdAt: try row.decode(column: "created_at", as: Timestamp.self)
        )
    }

    public func create(_ input: NewWorkflow) async throws -> Workflow {
        let now = Timestamp.now()
        let handle = try Validation.slug(input.handle, field: "handle")
        let workflow = Workflow(
            id: UUIDv7.generate(), projectId: try Validation.id(input.projectId, field: "project_id"), handle: handle,
            name: try Validation.name(input.name ?? handle), description: try Validation.text(input.description ?? "", field: "description"),
            archived: false, latestVersion: 0, createdAt: now, updatedAt: now
        )
        do {
            try await database.write { sql in
                try await sql.requireRow(in: "projects", id: workflow.projectId, field: "project_id", what: "project")
                try await sql.raw("""
                    INSERT INTO workflows (id, project_id, handle, name, description, archived, last_version, created_at, updated_at)
                    VALUES (\(bind: workflow.id), \(bind: workflow.projectId), \(bind: workflow.handle), \(bind: workflow.name),
                            \(bind: workflow.description), \(bind: false), 0, \(bind: now), \(bind: now))
                    """).run()
            }
        } catch let error as StoreError where error.kind == .conflict {
            throw StoreError.conflict("A workflow with handle '\(handle)' already exists in this project; archive it first to reuse the handle.")
        }
        return workflow
    }

    public func get(_ id: String) async throws -> Workflow {
        try Validation.id(id, field: "id")
        let workflow = try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM workflows WHERE id = \(bind: id)").first().map(Self.decode)
        }
        guard let workflow else { throw StoreError.notFound("workflow", id: id) }
        return workflow
    }

    public func list(projectId: String? = nil, includeArchived: Bool = false, _ page: PageRequest = PageRequest()) async throws -> Page<Workflow> {
        try Validation.id(projectId, field: "project_id")
        let limit = try page.validatedLimit()
        let after = try page.decodedCursor() ?? ""
        let rows = try await database.read { sql in
            try await sql.raw("""
                SELECT \(Self.columns) FROM workflows
                WHERE id > \(bind: after) AND (\(bind: projectId == nil) OR project_id = \(bind: projectId ?? ""))
                  AND (\(bind: includeArchived) OR archived = \(bind: false))
                ORDER BY id LIMIT \(bind: limit + 1)
                """).all().map(Self.decode)
        }
        return PageRequest.page(rows, limit: limit, key: \.id)
    }

    /// Archives the workflow, freeing its handle for a new one.
    public func archive(_ id: String) async throws -> Workflow {
        try Validation.id(id, field: "id")
        let now = Timestamp.now()
        let found = try await database.write { sql in
            try await sql.raw("UPDATE workflows SET archived = \(bind: true), updated_at = \(bind: now) WHERE id = \(bind: id) RETURNING id").first() != nil
        }
        guard found else { throw StoreError.notFound("workflow", id: id) }
        return try await get(id)
    }

    /// Publishes the next version (latest + 1). The counter update locks the workflow row, so
    /// concurrent publishers get consecutive numbers with no duplicate and no gap.
    public func publish(workflowId: String, definition: JSONValue?) async throws -> WorkflowVersion {
        try Validation.id(workflowId, field: "workflow_id")
        let now = Timestamp.now()
        let id = UUIDv7.generate()
        let body = try Validation.object(definition, field: "definition")
        let version = try await database.write { sql in
            guard let row = try await sql.raw("""
                UPDATE workflows SET last_version = last_version + 1, updated_at = \(bind: now)
                WHERE id = \(bind: workflowId) AND archived = \(bind: false) RETURNING last_version
                """).first()
            else {
                throw StoreError.notFound("active workflow", id: workflowId)
            }
            let version = try row.decode(column: "last_version", as: Int64.self)
            try await sql.raw("""
                INSERT INTO workflow_versions (id, workflow_id, version, definition, created_at)
                VALUES (\(bind: id), \(bind: workflowId), \(bind: version), \(bind: JSONDocument(body)), \(bind: now))
                """).run()
            return version
        }
        return WorkflowVersion(id: id, workflowId: workflowId, version: version, definition: body, createdAt: now)
    }

    public func version(workflowId: String, version: Int64) async throws -> WorkflowVersion {
        try Validation.id(workflowId, field: "workflow_id")
        let found = try await database.read { sql in
            try await sql.raw("""
                SELECT id, workflow_id, version, definition, created_at FROM workflow_versions
                WHERE workflow_id = \(bind: workflowId) AND version = \(bind: version)
                """).first().map(Self.decodeVersion)
        }
        guard let found else { throw StoreError(.notFound, "Workflow '\(workflowId)' has no version \(version).") }
        return found
    }

    public func versions(workflowId: String) async throws -> [WorkflowVersion] {
        try Validation.id(workflowId, field: "workflow_id")
        _ = try await get(workflowId)
        return try await database.read { sql in
            try await sql.raw("""
                SELECT id, workflow_id, version, definition, created_at FROM workflow_versions
                WHERE workflow_id = \(bind: workflowId) ORDER BY version
                """).all().map(Self.decodeVersion)
        }
    }
}
