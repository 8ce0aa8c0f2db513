import SQLKit

public struct ProjectRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns: SQLQueryString = "id, name, slug, description, settings, archived, created_at, updated_at"

    static func decode(_ row: any SQLRow) throws -> Project {
        Project(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            slug: try row.decode(column: "slug", as: String.self),
            description: try row.decode(column: "description", as: String.self),
            settings: try row.decode(column: "settings", as: JSONDocument.self).value,
            archived: try row.decode(column: "archived", as: Bool.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self),
            updatedAt: try row.decode(column: "updated_at", as: Timestamp.self)
        )
    }

    public func create(_ input: NewProject) async throws -> Project {
        let name = try Validation.name(input.name)
        let now = Timestamp.now()
        let project = Project(
            id: UUIDv7.generate(),
            name: name,
            slug: try Validation.slug(input.slug ?? Validation.slugify(name)),
            description: try Validation.text(input.description ?? "", field: "description"),
            settings: try Validation.object(input.settings, field: "settings"),
            archived: false,
            createdAt: now,
            updatedAt: now
        )
        do {
            try await database.write { sql in
                try await sql.raw("""
                    INSERT INTO projects (id, name, slug, description, settings, archived, created_at, updated_at)
                    VALUES (\(bind: project.id), \(bind: project.name), \(bind: project.slug), \(bind: project.description),
                            \(bind: JSONDocument(project.settings)), \(bind: project.archived), \(bind: now), \(bind: now))
                    """).run()
            }
        } catch let error as StoreError where error.kind == .conflict {
            throw StoreError.conflict("A project with slug '\(project.slug)' already exists.")
        }
        return project
    }

    public func get(_ id: String) async throws -> Project {
        try Validation.id(id, field: "id")
        let row = try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM projects WHERE id = \(bind: id)").first().map(Self.decode)
        }
        guard let row else { throw StoreError.notFound("project", id: id) }
        return row
    }

    public func list(_ page: PageRequest = PageRequest(), includeArchived: Bool = true) async throws -> Page<Project> {
        let limit = try page.validatedLimit()
        let after = try page.decodedCursor() ?? ""
        let rows = try await database.read { sql in
            try await sql.raw("""
                SELECT \(Self.columns) FROM projects
                WHERE id > \(bind: after) AND (\(bind: includeArchived) OR archived = \(bind: false))
                ORDER BY id LIMIT \(bind: limit + 1)
                """).all().map(Self.decode)
        }
        return PageRequest.page(rows, limit: limit, key: \.id)
    }

    public func update(_ id: String, _ patch: ProjectPatch) async throws -> Project {
        var project = try await get(id)
        if let name = patch.name { project.name = try Validation.name(name) }
        if let slug = patch.slug { project.slug = try Validation.slug(slug) }
        if let description = patch.description { project.description = try Validation.text(description, field: "description") }
        if let settings = patch.settings { project.settings = try Validation.object(settings, field: "settings") }
        if let archived = patch.archived { project.archived = archived }
        project.updatedAt = .now()
        let updated = project
        do {
            let found = try await database.write { sql in
                try await sql.raw("""
                    UPDATE projects SET name = \(bind: updated.name), slug = \(bind: updated.slug), description = \(bind: updated.description),
                        settings = \(bind: JSONDocument(updated.settings)), archived = \(bind: updated.archived), updated_at = \(bind: updated.updatedAt)
                    WHERE id = \(bind: id) RETURNING id
                    """).first() != nil
            }
            guard found else { throw StoreError.notFound("project", id: id) }
        } catch let error as StoreError where error.kind == .conflict {
            throw StoreError.conflict("A project with slug '\(updated.slug)' already exists.")
        }
        return updated
    }

    /// Deletes the project and, through foreign keys, its agents, tasks and sessions.
    public func delete(_ id: String) async throws {
        try Validation.id(id, field: "id")
        let found = try await database.write { sql in
            try await sql.raw("DELETE FROM projects WHERE id = \(bind: id) RETURNING id").first() != nil
        }
        guard found else { throw StoreError.notFound("project", id: id) }
    }
}
