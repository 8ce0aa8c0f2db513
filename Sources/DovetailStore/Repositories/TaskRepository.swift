import SQLKit

/// Kanban cards. Every change to a board takes the project's row lock first (PostgreSQL) or the
/// single writer (SQLite), so concurrent moves are serialised and positions stay dense and unique.
public struct TaskRepository: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    static let columnList = "id, project_id, title, description, board_column, position, priority, labels, assigned_agent_id, created_at, updated_at"
    static let columns = SQLQueryString(columnList)

    static func decode(_ row: any SQLRow) throws -> TaskCard {
        TaskCard(
            id: try row.decode(column: "id", as: String.self),
            projectId: try row.decode(column: "project_id", as: String.self),
            title: try row.decode(column: "title", as: String.self),
            description: try row.decode(column: "description", as: String.self),
            column: BoardColumn(rawValue: try row.decode(column: "board_column", as: String.self)) ?? .backlog,
            position: try row.decode(column: "position", as: Int.self),
            priority: try row.decode(column: "priority", as: Int.self),
            labels: try row.decode(column: "labels", as: JSONDocument.self).value,
            assignedAgentId: try row.decode(column: "assigned_agent_id", as: String?.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self),
            updatedAt: try row.decode(column: "updated_at", as: Timestamp.self)
        )
    }

    /// Appends the card at the end of its column.
    public func create(_ input: NewTask) async throws -> TaskCard {
        let now = Timestamp.now()
        var task = TaskCard(
            id: UUIDv7.generate(),
            projectId: try Validation.id(input.projectId, field: "project_id"),
            title: try Validation.text(input.title, field: "title", maxLength: 1_000, allowEmpty: false),
            description: try Validation.text(input.description ?? "", field: "description"),
            column: input.column ?? .backlog,
            position: 0,
            priority: input.priority ?? 0,
            labels: try Validation.array(input.labels, field: "labels"),
            assignedAgentId: try Validation.id(input.assignedAgentId, field: "assigned_agent_id"),
            createdAt: now,
            updatedAt: now
        )
        let database = self.database
        let inserted = try await database.taskAppends.submit(
            task, key: task.projectId, timeout: database.requestBound,
            timeoutError: StoreError.unavailable("The board's writes did not finish in time; the database may be down or overloaded. Retry shortly.")
        ) { batch in
            await Self.append(batch, database)
        }
        task.position = inserted
        return task
    }

    public func get(_ id: String) async throws -> TaskCard {
        try Validation.id(id, field: "id")
        guard let task = try await database.fetch(CardById(id: id)).first.map(Self.decode) else { throw StoreError.notFound("task", id: id) }
        return task
    }

    /// Cards of a project: in board order (column, then position) when `column` is nil, else one column by position.
    public func list(projectId: String, column: BoardColumn? = nil, _ page: PageRequest = PageRequest()) async throws -> Page<TaskCard> {
        try Validation.id(projectId, field: "project_id")
        let limit = try page.validatedLimit()
        // The sort key is "<column rank>:<position padded>", so it compares correctly as text.
        let after = try page.decodedCursor()
        let (afterRank, afterPosition) = try Self.parseBoardKey(after)
        let ranks = BoardColumn.allCases
        let rankCase = SQLQueryString("CASE board_column ") + ranks.enumerated().map { index, column in
            SQLQueryString("WHEN \(literal: column.rawValue) THEN \(literal: index) ")
        }.reduce(SQLQueryString(""), +) + SQLQueryString("END")
        let rows: [TaskCard]
        if let column {
            // One column: a range scan of tasks_board_position_key. A cursor from an earlier column starts
            // at its top; one from a later column has nothing left.
            let rank = ranks.firstIndex(of: column) ?? 0
            if afterRank > rank { return Page(items: [], nextCursor: nil) }
            let afterInColumn = afterRank < rank ? -1 : afterPosition
            rows = try await database.fetch(
                ColumnPage(projectId: projectId, column: column, afterPosition: afterInColumn, limit: limit + 1)
            ).map(Self.decode)
        } else {
            rows = try await database.read { sql in
                try await sql.raw("""
                    SELECT \(Self.columns) FROM tasks
                    WHERE project_id = \(bind: projectId)
                      AND (\(rankCase) > \(bind: afterRank) OR (\(rankCase) = \(bind: afterRank) AND position > \(bind: afterPosition)))
                    ORDER BY \(rankCase), position LIMIT \(bind: limit + 1)
                    """).all().map(Self.decode)
            }
        }
        return PageRequest.page(rows, limit: limit) { task in
            "\(ranks.firstIndex(of: task.column) ?? 0):\(task.position)"
        }
    }

    static func parseBoardKey(_ key: String?) throws -> (Int, Int) {
        guard let key else { return (-1, -1) }
        let parts = key.split(separator: ":")
        guard parts.count == 2, let rank = Int(parts[0]), let position = Int(parts[1]) else {
            throw StoreError.invalid("cursor is not a cursor this server issued; start again without it.", field: "cursor")
        }
        return (rank, position)
    }

    /// Moves a card to `column` at `position` (default: the end), shifting its neighbours so both
    /// columns stay numbered 0…n-1.
    public func move(_ id: String, to column: BoardColumn, position requested: Int? = nil) async throws -> TaskCard {
        try Validation.id(id, field: "id")
        if let requested, requested < 0 {
            throw StoreError.invalid("position must be zero or more.", field: "position")
        }
        let dialect = database.dialect
        let now = Timestamp.now()
        return try await database.write { sql in
            guard let projectId = try await sql.raw("SELECT project_id FROM tasks WHERE id = \(bind: id)").first()?
                .decode(column: "project_id", as: String.self)
            else { throw StoreError.notFound("task", id: id) }
            try await Self.lockBoard(projectId, sql, dialect)
            // Re-read under the lock: a concurrent move may have changed it.
            guard let task = try await Self.fetch(id, sql) else { throw StoreError.notFound("task", id: id) }
            let sameColumn = task.column == column
            let size = try await Self.count(projectId, column, sql) - (sameColumn ? 1 : 0)
            let target = min(requested ?? size, size)
            if sameColumn && target == task.position { return task }

            // Park the card outside every column's range, then close its gap and open the new one.
            try await sql.raw("UPDATE tasks SET position = -1 WHERE id = \(bind: id)").run()
            try await Self.shift(projectId, task.column, from: task.position + 1, through: nil, by: -1, sql)
            try await Self.shift(projectId, column, from: target, through: nil, by: 1, sql)
            try await sql.raw("""
                UPDATE tasks SET board_column = \(bind: column.rawValue), position = \(bind: target), updated_at = \(bind: now) WHERE id = \(bind: id)
                """).run()
            guard let moved = try await Self.fetch(id, sql) else { throw StoreError.notFound("task", id: id) }
            return moved
        }
    }

    public func delete(_ id: String) async throws {
        try Validation.id(id, field: "id")
        let dialect = database.dialect
        try await database.write { sql in
            guard let found = try await Self.fetch(id, sql) else { throw StoreError.notFound("task", id: id) }
            try await Self.lockBoard(found.projectId, sql, dialect)
            // Re-read under the lock: a move that committed while this waited may have changed its position.
            guard let task = try await Self.fetch(id, sql) else { throw StoreError.notFound("task", id: id) }
            try await sql.raw("DELETE FROM tasks WHERE id = \(bind: id)").run()
            try await Self.shift(task.projectId, task.column, from: task.position + 1, through: nil, by: -1, sql)
        }
    }

    // MARK: - Board helpers (run inside a write transaction)

    static func fetch(_ id: String, _ sql: any SQLDatabase) async throws -> TaskCard? {
        try await sql.raw("SELECT \(columns) FROM tasks WHERE id = \(bind: id)").first().map(decode)
    }

    static func lockBoard(_ projectId: String, _ sql: any SQLDatabase, _ dialect: Dialect) async throws {
        let found = try await sql.raw(dialect.lockBoardStatement(projectId)).first() != nil
        guard found else { throw StoreError.invalid("No project with id '\(projectId)' exists.", field: "project_id") }
    }

    /// Appends a batch of cards for one project, run by `BatchingQueue` (one batch per project at a
    /// time): cards without an agent in one multi-row statement, cards naming an agent one by one (their
    /// agent may be missing, and a skipped row in the middle of a batch would leave a gap).
    static func append(_ tasks: [TaskCard], _ database: Database) async -> [Result<Int, any Error>] {
        var results = [Result<Int, any Error>](repeating: .failure(StoreError(.internalFailure, "The card was not added.")), count: tasks.count)
        let unassigned = tasks.indices.filter { tasks[$0].assignedAgentId == nil }
        if !unassigned.isEmpty {
            do {
                let positions = try await appendTogether(unassigned.map { tasks[$0] }, database)
                for index in unassigned {
                    if let position = positions[tasks[index].id] {
                        results[index] = .success(position)
                    } else {
                        results[index] = .failure(StoreError.invalid("No project with id '\(tasks[index].projectId)' exists.", field: "project_id"))
                    }
                }
            } catch let error as StoreError where error.kind == .unavailable {
                for index in unassigned { results[index] = .failure(error) }
            } catch {
                // Something in one card failed the statement: add them one by one, so only that card fails.
                await appendOneByOne(unassigned, tasks, database, into: &results)
            }
        }
        await appendOneByOne(tasks.indices.filter { tasks[$0].assignedAgentId != nil }, tasks, database, into: &results)
        return results
    }

    /// Appends the cards at `indices` one at a time. Once the database is unavailable the rest fail with
    /// that error without being tried: each try would wait out its own timeout, and the whole board's
    /// queue waits behind this batch.
    private static func appendOneByOne(_ indices: [Int], _ tasks: [TaskCard], _ database: Database, into results: inout [Result<Int, any Error>]) async {
        var unavailable: StoreError?
        for index in indices {
            if let unavailable {
                results[index] = .failure(unavailable)
                continue
            }
            results[index] = await outcome { try await appendOne(tasks[index], database) }
            if case .failure(let error as StoreError) = results[index], error.kind == .unavailable { unavailable = error }
        }
    }

    private static func outcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do { return .success(try await body()) } catch { return .failure(error) }
    }

    /// One card; when nothing was inserted, says whether the project or the assigned agent is missing.
    static func appendOne(_ task: TaskCard, _ database: Database) async throws -> Int {
        if let position = try await appendTogether([task], database)[task.id] { return position }
        try await database.read { sql in
            try await sql.requireRow(in: "projects", id: task.projectId, field: "project_id", what: "project")
            if let agentId = task.assignedAgentId {
                try await sql.requireRow(in: "agents", id: agentId, field: "assigned_agent_id", what: "agent")
            }
        }
        throw StoreError.conflict("The task could not be added to its column; retry.")
    }

    /// Cards of one project in one `WITH board AS (…) INSERT … SELECT … FROM (VALUES …)`: each gets its
    /// column's end as the statement found it (read from one end of `tasks_board_position_key`) plus its rank
    /// among the batch's cards for that column. A card naming an agent that does not exist is skipped, so such
    /// cards come alone. One statement, no transaction, when `Dialect.boardForAppend` grants the board; else (a
    /// board change committed meanwhile, or no such project) again inside the board lock. Returns position by
    /// card id; empty when the project does not exist.
    static func appendTogether(_ tasks: [TaskCard], _ database: Database) async throws -> [String: Int] {
        let projectId = tasks[0].projectId
        var ranks: [BoardColumn: Int] = [:]
        var rows = SQLQueryString("")
        for (index, task) in tasks.enumerated() {
            ranks[task.column, default: 0] += 1
            rows = rows + (index == 0 ? "(" : ", (") + """
                \(bind: task.id), \(bind: task.title), \(bind: task.description), \(bind: task.column.rawValue), \(bind: task.priority), \
                \(bind: JSONDocument(task.labels)), \(bind: task.createdAt), \(bind: task.updatedAt), \(bind: ranks[task.column] ?? 1), \
                \(bind: task.assignedAgentId))
                """
        }
        let dialect = database.dialect
        // VALUES columns are named column1… on both backends.
        let insert: SQLQueryString = """
            WITH board AS (\(dialect.boardForAppend(projectId)))
            INSERT INTO tasks (id, project_id, title, description, board_column, position, priority, labels, created_at, updated_at, assigned_agent_id)
            SELECT v.column1, board.id, v.column2, v.column3, v.column4,
                   (SELECT COALESCE(MAX(t.position), -1) FROM tasks t WHERE t.project_id = \(bind: projectId) AND t.board_column = v.column4) + v.column9,
                   v.column5, v.column6, v.column7, v.column8, v.column10
            FROM (VALUES \(rows)) AS v, board
            WHERE v.column10 IS NULL OR EXISTS (SELECT 1 FROM agents a WHERE a.id = v.column10)
            RETURNING id, position
            """
        var rowsBack = try await database.writeStatement { sql in try await sql.raw(insert).all() }
        if rowsBack.isEmpty && !dialect.hasSingleWriter {
            rowsBack = try await database.write { sql in
                try await lockBoard(projectId, sql, dialect)
                return try await sql.raw(insert).all()
            }
        }
        var positions: [String: Int] = [:]
        for row in rowsBack {
            positions[try row.decode(column: "id", as: String.self)] = try row.decode(column: "position", as: Int.self)
        }
        return positions
    }

    static func count(_ projectId: String, _ column: BoardColumn, _ sql: any SQLDatabase) async throws -> Int {
        try await sql.raw("""
            SELECT COUNT(*) AS n FROM tasks WHERE project_id = \(bind: projectId) AND board_column = \(bind: column.rawValue) AND position >= 0
            """).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Adds `delta` to positions `from…through` of one column without ever holding two cards at one
    /// position: the range is first flipped to distinct negative numbers, then flipped back shifted.
    static func shift(_ projectId: String, _ column: BoardColumn, from: Int, through: Int?, by delta: Int, _ sql: any SQLDatabase) async throws {
        let upper = through ?? Int(Int32.max)
        try await sql.raw("""
            UPDATE tasks SET position = -position - 2
            WHERE project_id = \(bind: projectId) AND board_column = \(bind: column.rawValue) AND position >= \(bind: from) AND position <= \(bind: upper)
            """).run()
        try await sql.raw("""
            UPDATE tasks SET position = -position - 2 + \(bind: delta)
            WHERE project_id = \(bind: projectId) AND board_column = \(bind: column.rawValue) AND position <= -2
            """).run()
    }
}
