import SQLKit

/// Filters for run history.
public struct RunFilter: Sendable {
    public var workflowId: String?
    public var status: RunStatus?
    public var metadata: MetadataFilter
    public var createdAfter: Timestamp?
    public var createdBefore: Timestamp?

    public init(workflowId: String? = nil, status: RunStatus? = nil, metadata: MetadataFilter = MetadataFilter(), createdAfter: Timestamp? = nil, createdBefore: Timestamp? = nil) {
        self.workflowId = workflowId
        self.status = status
        self.metadata = metadata
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
    }
}

/// Workflow runs: started pending, claimed by workers with a lease, stepped, finished.
public struct RunRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columns: SQLQueryString = """
        id, workflow_id, workflow_version, status, inputs, outputs, error, metadata, worker_id, lease_expires_at,
        attempts, started_at, finished_at, created_at, updated_at
        """

    static func decode(_ row: any SQLRow) throws -> Run {
        Run(
            id: try row.decode(column: "id", as: String.self),
            workflowId: try row.decode(column: "workflow_id", as: String.self),
            workflowVersion: try row.decode(column: "workflow_version", as: Int64.self),
            status: RunStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            inputs: try row.decode(column: "inputs", as: JSONDocument.self).value,
            outputs: try row.decode(column: "outputs", as: JSONDocument?.self)?.value,
            error: try row.decode(column: "error", as: String?.self),
            metadata: try row.decode(column: "metadata", as: JSONDocument.self).value,
            workerId: try row.decode(column: "worker_id", as: String?.self),
            leaseExpiresAt: try row.decode(column: "lease_expires_at", as: Timestamp?.self),
            attempts: try row.decode(column: "attempts", as: Int64.self),
            startedAt: try row.decode(column: "started_at", as: Timestamp?.self),
            finishedAt: try row.decode(column: "finished_at", as: Timestamp?.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self),
            updatedAt: try row.decode(column: "updated_at", as: Timestamp.self)
        )
    }

    static func decodeStep(_ row: any SQLRow) throws -> RunStep {
        RunStep(
            id: try row.decode(column: "id", as: String.self),
            runId: try row.decode(column: "run_id", as: String.self),
            stepIndex: try row.decode(column: "step_index", as: Int64.self),
            name: try row.decode(column: "name", as: String.self),
            status: StepStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            inputTokens: try row.decode(column: "input_tokens", as: Int64.self),
            outputTokens: try row.decode(column: "output_tokens", as: Int64.self),
            output: try row.decode(column: "output", as: JSONDocument.self).value,
            createdAt: try row.decode(column: "created_at", as: Timestamp.self)
        )
    }

    /// Starts a pending run of a published version (the latest when none is named).
    public func start(_ input: NewRun, now: Timestamp = .now()) async throws -> Run {
        try Validation.id(input.workflowId, field: "workflow_id")
        let inputs = try Validation.object(input.inputs, field: "inputs")
        let metadata = try Validation.object(input.metadata, field: "metadata")
        let id = UUIDv7.generate()
        return try await database.write { sql in
            guard let workflow = try await sql.raw("SELECT last_version, archived FROM workflows WHERE id = \(bind: input.workflowId)").first() else {
                throw StoreError.invalid("No workflow with id '\(input.workflowId)' exists.", field: "workflow_id")
            }
            let latest = try workflow.decode(column: "last_version", as: Int64.self)
            let version = input.version ?? latest
            guard version >= 1, version <= latest else {
                throw StoreError.invalid("Workflow '\(input.workflowId)' has no published version \(version); publish one first.", field: "version")
            }
            try await sql.raw("""
                INSERT INTO runs (id, workflow_id, workflow_version, status, inputs, metadata, attempts, created_at, updated_at)
                VALUES (\(bind: id), \(bind: input.workflowId), \(bind: version), 'pending', \(bind: JSONDocument(inputs)),
                        \(bind: JSONDocument(metadata)), 0, \(bind: now), \(bind: now))
                """).run()
            return Run(
                id: id, workflowId: input.workflowId, workflowVersion: version, status: .pending, inputs: inputs, outputs: nil, error: nil,
                metadata: metadata, workerId: nil, leaseExpiresAt: nil, attempts: 0, startedAt: nil, finishedAt: nil, createdAt: now, updatedAt: now
            )
        }
    }

    public func get(_ id: String) async throws -> Run {
        try Validation.id(id, field: "id")
        let run = try await database.read { sql in try await sql.raw("SELECT \(Self.columns) FROM runs WHERE id = \(bind: id)").first().map(Self.decode) }
        guard let run else { throw StoreError.notFound("run", id: id) }
        return run
    }

    /// Run history, newest first.
    public func list(_ filter: RunFilter = RunFilter(), _ page: PageRequest = PageRequest()) async throws -> Page<Run> {
        try Validation.id(filter.workflowId, field: "workflow_id")
        let limit = try page.validatedLimit()
        let before = try page.decodedCursor()
        let dialect = database.dialect
        let rows = try await database.read { sql in
            try await sql.raw("""
                SELECT \(Self.columns) FROM runs
                WHERE (\(bind: before == nil) OR id < \(bind: before ?? ""))
                  AND (\(bind: filter.workflowId == nil) OR workflow_id = \(bind: filter.workflowId ?? ""))
                  AND (\(bind: filter.status == nil) OR status = \(bind: filter.status?.rawValue ?? ""))
                  AND (\(bind: filter.createdAfter == nil) OR created_at >= \(bind: filter.createdAfter ?? Timestamp(millisecondsSince1970: 0)))
                  AND (\(bind: filter.createdBefore == nil) OR created_at < \(bind: filter.createdBefore ?? Timestamp(millisecondsSince1970: 0)))
                  AND \(dialect.jsonContains(column: "metadata", filter.metadata))
                ORDER BY id DESC LIMIT \(bind: limit + 1)
                """).all().map(Self.decode)
        }
        return PageRequest.page(rows, limit: limit, key: \.id)
    }

    /// Hands the oldest claimable run to `workerId` for `leaseSeconds`: a pending run, or a running
    /// one whose lease has expired. Returns nil when there is none.
    ///
    /// PostgreSQL picks the row with `FOR UPDATE SKIP LOCKED`, so concurrent workers never get the
    /// same run and never wait on each other; on SQLite the single writer makes the same statement atomic.
    public func claim(workerId: String, leaseSeconds: Int, now: Timestamp = .now()) async throws -> Run? {
        let worker = try Validation.id(Validation.text(workerId, field: "worker_id", maxLength: 200, allowEmpty: false), field: "worker_id")
        guard (1...86_400).contains(leaseSeconds) else {
            throw StoreError.invalid("lease_seconds must be between 1 and 86400.", field: "lease_seconds")
        }
        let expires = now.adding(seconds: Int64(leaseSeconds))
        let dialect = database.dialect
        return try await database.write { sql in
            try await sql.raw("""
                UPDATE runs SET status = 'running', worker_id = \(bind: worker), lease_expires_at = \(bind: expires),
                    attempts = attempts + 1, started_at = COALESCE(started_at, \(bind: now)), updated_at = \(bind: now)
                WHERE id = (
                    SELECT id FROM runs
                    WHERE status = 'pending' OR (status = 'running' AND lease_expires_at < \(bind: now))
                    ORDER BY id LIMIT 1\(dialect.claimLockingSuffix)
                )
                RETURNING \(Self.columns)
                """).first().map(Self.decode)
        }
    }

    /// Extends the lease of a run the worker still holds.
    public func renewLease(runId: String, workerId: String, leaseSeconds: Int, now: Timestamp = .now()) async throws -> Run {
        try Validation.id(runId, field: "run_id")
        try Validation.id(workerId, field: "worker_id")
        guard (1...86_400).contains(leaseSeconds) else {
            throw StoreError.invalid("lease_seconds must be between 1 and 86400.", field: "lease_seconds")
        }
        let expires = now.adding(seconds: Int64(leaseSeconds))
        let run = try await database.write { sql in
            try await sql.raw("""
                UPDATE runs SET lease_expires_at = \(bind: expires), updated_at = \(bind: now)
                WHERE id = \(bind: runId) AND status = 'running' AND worker_id = \(bind: workerId)
                RETURNING \(Self.columns)
                """).first().map(Self.decode)
        }
        guard let run else { throw StoreError.conflict("Run '\(runId)' is not running under worker '\(workerId)'; its lease may have expired.") }
        return run
    }

    public func appendStep(runId: String, _ input: NewRunStep, now: Timestamp = .now()) async throws -> RunStep {
        try Validation.id(runId, field: "run_id")
        guard input.stepIndex >= 0 else { throw StoreError.invalid("step_index must be zero or more.", field: "step_index") }
        let step = RunStep(
            id: UUIDv7.generate(), runId: runId, stepIndex: input.stepIndex,
            name: try Validation.text(input.name, field: "name", maxLength: 200, allowEmpty: false), status: input.status,
            inputTokens: max(0, input.inputTokens ?? 0), outputTokens: max(0, input.outputTokens ?? 0),
            output: try Validation.object(input.output, field: "output"), createdAt: now
        )
        do {
            try await database.write { sql in
                try await sql.requireRow(in: "runs", id: runId, field: "run_id", what: "run")
                try await sql.raw("""
                    INSERT INTO run_steps (id, run_id, step_index, name, status, input_tokens, output_tokens, output, created_at)
                    VALUES (\(bind: step.id), \(bind: runId), \(bind: step.stepIndex), \(bind: step.name), \(bind: step.status.rawValue),
                            \(bind: step.inputTokens), \(bind: step.outputTokens), \(bind: JSONDocument(step.output)), \(bind: now))
                    """).run()
            }
        } catch let error as StoreError where error.kind == .conflict {
            throw StoreError.conflict("Run '\(runId)' already has step \(input.stepIndex).")
        }
        return step
    }

    public func steps(runId: String) async throws -> [RunStep] {
        try Validation.id(runId, field: "run_id")
        _ = try await get(runId)
        return try await database.read { sql in
            try await sql.raw("""
                SELECT id, run_id, step_index, name, status, input_tokens, output_tokens, output, created_at
                FROM run_steps WHERE run_id = \(bind: runId) ORDER BY step_index
                """).all().map(Self.decodeStep)
        }
    }

    /// Ends a run. Finishing a run twice is a conflict, so a late worker cannot overwrite the outcome.
    public func finish(runId: String, _ completion: RunCompletion, now: Timestamp = .now()) async throws -> Run {
        try Validation.id(runId, field: "run_id")
        guard completion.status.isFinished else {
            throw StoreError.invalid("status must be succeeded, failed or cancelled.", field: "status")
        }
        let outputs = try completion.outputs.map { try Validation.object($0, field: "outputs") }
        let error = try completion.error.map { try Validation.text($0, field: "error") }
        let run = try await database.write { sql in
            try await sql.raw("""
                UPDATE runs SET status = \(bind: completion.status.rawValue), outputs = \(bind: outputs.map(JSONDocument.init)), error = \(bind: error),
                    finished_at = \(bind: now), lease_expires_at = NULL, updated_at = \(bind: now)
                WHERE id = \(bind: runId) AND status IN ('pending', 'running')
                RETURNING \(Self.columns)
                """).first().map(Self.decode)
        }
        guard let run else {
            _ = try await get(runId)
            throw StoreError.conflict("Run '\(runId)' has already finished.")
        }
        return run
    }
}
