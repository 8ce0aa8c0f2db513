import SQLKit

/// Checkpoints of a workflow. At most one is marked best per workflow; a partial unique index
/// enforces it in the database, not only here.
public struct CheckpointRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns: SQLQueryString = "id, workflow_id, run_id, config_version, metrics, is_best, created_at"

    static func decode(_ row: any SQLRow) throws -> Checkpoint {
        Checkpoint(
            id: try row.decode(column: "id", as: String.self),
            workflowId: try row.decode(column: "workflow_id", as: String.self),
            runId: try row.decode(column: "run_id", as: String?.self),
            configVersion: try row.decode(column: "config_version", as: String.self),
            metrics: try row.decode(column: "metrics", as: JSONDocument.self).value,
            isBest: try row.decode(column: "is_best", as: Bool.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self)
        )
    }

    public func save(workflowId: String, _ input: NewCheckpoint) async throws -> Checkpoint {
        try Validation.id(workflowId, field: "workflow_id")
        let now = Timestamp.now()
        let checkpoint = Checkpoint(
            id: UUIDv7.generate(), workflowId: workflowId, runId: try Validation.id(input.runId, field: "run_id"),
            configVersion: try Validation.text(input.configVersion, field: "config_version", maxLength: 200, allowEmpty: false),
            metrics: try Validation.object(input.metrics, field: "metrics"), isBest: input.isBest ?? false, createdAt: now
        )
        try await database.write { sql in
            try await sql.requireRow(in: "workflows", id: workflowId, field: "workflow_id", what: "workflow")
            if let runId = checkpoint.runId { try await sql.requireRow(in: "runs", id: runId, field: "run_id", what: "run") }
            if checkpoint.isBest {
                try await sql.raw("UPDATE checkpoints SET is_best = \(bind: false) WHERE workflow_id = \(bind: workflowId) AND is_best = \(bind: true)").run()
            }
            try await sql.raw("""
                INSERT INTO checkpoints (id, workflow_id, run_id, config_version, metrics, is_best, created_at)
                VALUES (\(bind: checkpoint.id), \(bind: workflowId), \(bind: checkpoint.runId), \(bind: checkpoint.configVersion),
                        \(bind: JSONDocument(checkpoint.metrics)), \(bind: checkpoint.isBest), \(bind: now))
                """).run()
        }
        return checkpoint
    }

    /// Makes `id` the workflow's only best checkpoint.
    public func markBest(_ id: String) async throws -> Checkpoint {
        try Validation.id(id, field: "id")
        return try await database.write { sql in
            guard let checkpoint = try await sql.raw("SELECT \(Self.columns) FROM checkpoints WHERE id = \(bind: id)").first().map(Self.decode) else {
                throw StoreError.notFound("checkpoint", id: id)
            }
            try await sql.raw("""
                UPDATE checkpoints SET is_best = \(bind: false) WHERE workflow_id = \(bind: checkpoint.workflowId) AND is_best = \(bind: true) AND id <> \(bind: id)
                """).run()
            try await sql.raw("UPDATE checkpoints SET is_best = \(bind: true) WHERE id = \(bind: id)").run()
            var best = checkpoint
            best.isBest = true
            return best
        }
    }

    /// The workflow's checkpoints, newest first.
    public func latest(workflowId: String, limit: Int = 20) async throws -> [Checkpoint] {
        try Validation.id(workflowId, field: "workflow_id")
        guard (1...PageRequest.maximumLimit).contains(limit) else {
            throw StoreError.invalid("limit must be between 1 and \(PageRequest.maximumLimit).", field: "limit")
        }
        return try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM checkpoints WHERE workflow_id = \(bind: workflowId) ORDER BY id DESC LIMIT \(bind: limit)")
                .all().map(Self.decode)
        }
    }

    public func best(workflowId: String) async throws -> Checkpoint? {
        try Validation.id(workflowId, field: "workflow_id")
        return try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM checkpoints WHERE workflow_id = \(bind: workflowId) AND is_best = \(bind: true)")
                .first().map(Self.decode)
        }
    }
}
