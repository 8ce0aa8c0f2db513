import SQLKit

/// A validated `TaskPatch` for one card: nil fields are left alone.
struct TaskChange: Sendable {
    var id: String
    var title: String?
    var description: String?
    var priority: Int?
    var labels: JSONValue?
    /// `.some(nil)` unassigns; `nil` leaves the assignment alone.
    var assignedAgentId: String??
    var updatedAt: Timestamp
}

extension TaskRepository {
    /// Changes the fields the patch names (positions never change here, so no board lock). On SQLite,
    /// concurrent updates are batched into one `UPDATE … FROM (VALUES …)`: every write queues for the single
    /// writer, and one statement for many cards costs one turn of it.
    public func update(_ id: String, _ patch: TaskPatch) async throws -> TaskCard {
        let change = TaskChange(
            id: try Validation.id(id, field: "id"),
            title: try patch.title.map { try Validation.text($0, field: "title", maxLength: 1_000, allowEmpty: false) },
            description: try patch.description.map { try Validation.text($0, field: "description") },
            priority: patch.priority,
            labels: try patch.labels.map { try Validation.array($0, field: "labels") },
            assignedAgentId: try patch.assignedAgentId.map { try Validation.id($0, field: "assigned_agent_id") },
            updatedAt: .now()
        )
        if case .some(.some) = change.assignedAgentId {
            // The named agent may be missing: such a change runs alone, to say so.
            return try await Self.applyOne(change, database)
        }
        if !database.dialect.hasSingleWriter {
            // PostgreSQL updates different cards side by side; a batch would only serialise them.
            return try await Self.applyOne(change, database)
        }
        let database = self.database
        return try await database.taskUpdates.submit(change, key: "tasks") { batch in
            await Self.apply(batch, database)
        }
    }

    /// A batch of changes, in rounds: the first change to each card in one statement, then the second
    /// change to each card that has one, and so on — one `UPDATE … FROM` cannot apply two changes to a card
    /// in order. The queue already keeps a card's repeats for later batches (`identity`), so a batch is
    /// normally one round; the rounds keep this function right for any batch it is given.
    static func apply(_ changes: [TaskChange], _ database: Database) async -> [Result<TaskCard, any Error>] {
        var results = [Result<TaskCard, any Error>](repeating: .failure(StoreError(.internalFailure, "The card was not updated.")), count: changes.count)
        var occurrences: [String: Int] = [:]
        var rounds: [[Int]] = []
        for index in changes.indices {
            let round = occurrences[changes[index].id, default: 0]
            occurrences[changes[index].id] = round + 1
            if round == rounds.count { rounds.append([]) }
            rounds[round].append(index)
        }
        for round in rounds {
            if round.count > 1 {
                do {
                    let updated = try await applyTogether(round.map { changes[$0] }, database)
                    for index in round {
                        let id = changes[index].id
                        results[index] = updated[id].map { .success($0) } ?? .failure(StoreError.notFound("task", id: id))
                    }
                    continue
                } catch let error as StoreError where error.kind == .unavailable {
                    for index in round { results[index] = .failure(error) }
                    continue
                } catch {
                    // Something in one change failed the statement: apply them one by one, so only that one fails.
                }
            }
            for index in round {
                do { results[index] = .success(try await applyOne(changes[index], database)) } catch { results[index] = .failure(error) }
            }
        }
        return results
    }

    /// One card; when nothing was updated, says whether the task or the agent it names is missing.
    static func applyOne(_ change: TaskChange, _ database: Database) async throws -> TaskCard {
        if let updated = try await applyTogether([change], database)[change.id] { return updated }
        let agentId = change.assignedAgentId ?? nil
        try await database.read { sql in
            guard try await fetch(change.id, sql) != nil else { throw StoreError.notFound("task", id: change.id) }
            if let agentId { try await sql.requireRow(in: "agents", id: agentId, field: "assigned_agent_id", what: "agent") }
        }
        throw StoreError.conflict("The task changed while it was being updated; retry.")
    }

    /// Changes to distinct cards in one `UPDATE … FROM (VALUES …)`. A NULL in the VALUES row means "leave the
    /// field alone" (those columns are NOT NULL); labels and the assignment have flags of their own (labels bind
    /// a document either way; unassigning writes a NULL), and a change naming an agent that does not exist updates nothing (so such changes come alone).
    /// Returns the updated cards by id; a missing id is simply absent.
    static func applyTogether(_ changes: [TaskChange], _ database: Database) async throws -> [String: TaskCard] {
        var rows = SQLQueryString("")
        for (index, change) in changes.enumerated() {
            // Labels always bind a document (a NULL would reach PostgreSQL as text), with a flag of their own.
            rows = rows + (index == 0 ? "(" : ", (") + """
                \(bind: change.id), \(bind: change.title), \(bind: change.description), \(bind: change.priority), \
                \(bind: JSONDocument(change.labels ?? .emptyArray)), \(bind: change.assignedAgentId != nil), \(bind: change.updatedAt), \
                \(bind: change.assignedAgentId ?? nil), \(bind: change.labels != nil))
                """
        }
        // VALUES columns are named column1… on both backends.
        let statement: SQLQueryString = """
            UPDATE tasks SET
                title = COALESCE(v.column2, tasks.title),
                description = COALESCE(v.column3, tasks.description),
                priority = COALESCE(v.column4, tasks.priority),
                labels = CASE WHEN v.column9 THEN v.column5 ELSE tasks.labels END,
                assigned_agent_id = CASE WHEN v.column6 THEN v.column8 ELSE tasks.assigned_agent_id END,
                updated_at = v.column7
            FROM (VALUES \(rows)) AS v
            WHERE tasks.id = v.column1 AND (v.column8 IS NULL OR EXISTS (SELECT 1 FROM agents a WHERE a.id = v.column8))
            RETURNING \(columns)
            """
        let updated = try await database.writeStatement { sql in try await sql.raw(statement).all().map(decode) }
        var byId: [String: TaskCard] = [:]
        for card in updated { byId[card.id] = card }
        return byId
    }
}
