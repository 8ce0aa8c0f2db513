@testable import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

@Suite("Concurrent writers")
struct ConcurrencyTests {
    /// Many clients moving cards at once: every column must still be numbered 0…n-1, each card once.
    @Test(arguments: TestBackend.allCases)
    func concurrentMovesKeepPositionsDenseAndUnique(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "Race"))
            var ids: [String] = []
            for index in 0..<12 { ids.append(try await store.tasks.create(NewTask(projectId: project.id, title: "T\(index)", column: .todo)).id) }
            let columns = BoardColumn.allCases
            let moveIDs = ids
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        for step in 0..<6 {
                            let id = moveIDs[(worker * 7 + step * 5) % moveIDs.count]
                            let column = columns[(worker + step) % columns.count]
                            _ = try await store.tasks.move(id, to: column, position: (worker + step) % 4)
                        }
                    }
                }
                try await group.waitForAll()
            }
            var seen: [String] = []
            for column in columns {
                let cards = try await store.tasks.list(projectId: project.id, column: column, PageRequest(limit: 500)).items
                #expect(cards.map(\.position) == Array(0..<cards.count), "column \(column.rawValue) is not dense: \(cards.map(\.position))")
                seen += cards.map(\.id)
            }
            #expect(Set(seen) == Set(ids))
            #expect(seen.count == ids.count)
        }
    }

    /// Card creations at once, in several columns, some naming an agent, some a missing agent or a
    /// missing project, while other cards move: they are added in batches, and every column stays
    /// numbered 0…n-1 with each created card exactly once, at the position its creator was told.
    @Test(arguments: TestBackend.allCases)
    func concurrentCreationsAreBatchedAndKeepColumnsDense(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "Batch"))
            let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "worker"))
            var movers: [String] = []
            for index in 0..<6 { movers.append(try await store.tasks.create(NewTask(projectId: project.id, title: "m\(index)", column: .todo)).id) }
            let columns: [BoardColumn] = [.backlog, .todo, .review]
            let moverIDs = movers
            enum Outcome: Sendable { case created(TaskCard), refused(String?) }
            let outcomes = try await withThrowingTaskGroup(of: Outcome?.self) { group in
                for writer in 0..<150 {
                    group.addTask {
                        let missingProject = writer % 25 == 24
                        let agentId: String? = writer % 10 == 3 ? agent.id : (writer % 15 == 7 ? "no such agent" : nil)
                        let input = NewTask(
                            projectId: missingProject ? "no-such-project" : project.id, title: "card \(writer) 'quoted' ✓",
                            column: columns[writer % columns.count], labels: .array([.string("w\(writer)")]), assignedAgentId: agentId
                        )
                        do {
                            return .created(try await store.tasks.create(input))
                        } catch let error as StoreError {
                            return .refused(error.field)
                        }
                    }
                }
                for mover in 0..<4 {
                    group.addTask {
                        for step in 0..<5 {
                            _ = try await store.tasks.move(moverIDs[(mover + step) % moverIDs.count], to: columns[(mover * 3 + step) % columns.count])
                        }
                        return nil
                    }
                }
                var outcomes: [Outcome] = []
                for try await outcome in group { if let outcome { outcomes.append(outcome) } }
                return outcomes
            }
            var created: [TaskCard] = []
            var refusedFields: [String?] = []
            for outcome in outcomes {
                switch outcome {
                case .created(let card): created.append(card)
                case .refused(let field): refusedFields.append(field)
                }
            }
            // writers 24, 49, …, 149 name a missing project; 7, 22, 37, … (not also 24-series) a missing agent.
            let expectedMissingProject = (0..<150).filter { $0 % 25 == 24 }.count
            let expectedMissingAgent = (0..<150).filter { $0 % 25 != 24 && $0 % 10 != 3 && $0 % 15 == 7 }.count
            #expect(refusedFields.filter { $0 == "project_id" }.count == expectedMissingProject)
            #expect(refusedFields.filter { $0 == "assigned_agent_id" }.count == expectedMissingAgent)
            #expect(created.count == 150 - expectedMissingProject - expectedMissingAgent)
            var listed: [String: TaskCard] = [:]
            for column in BoardColumn.allCases {
                let cards = try await store.tasks.list(projectId: project.id, column: column, PageRequest(limit: 500)).items
                #expect(cards.map(\.position) == Array(0..<cards.count), "column \(column.rawValue) is not dense: \(cards.map(\.position))")
                for card in cards { listed[card.id] = card }
            }
            #expect(listed.count == created.count + movers.count)
            for card in created {
                #expect(listed[card.id]?.title == card.title)
                #expect(listed[card.id]?.assignedAgentId == card.assignedAgentId)
            }
            // Cards that were never moved sit where their creator was told.
            let moved = Set(moverIDs)
            for card in created where !moved.contains(card.id) {
                #expect(listed[card.id]?.column == card.column)
            }
            #expect(store.database.taskAppends.largestBatch.load(ordering: .relaxed) > 1, "no two creations were ever batched")
        }
    }

    /// Updates at once, each naming a different field of the same cards, some for missing cards and some
    /// repeated: on SQLite they are batched, and no update loses another's field or reports a change it did not make.
    @Test(arguments: TestBackend.allCases)
    func concurrentUpdatesAreBatchedAndLoseNoField(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "Patch"))
            let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "owner"))
            var ids: [String] = []
            for index in 0..<20 {
                ids.append(try await store.tasks.create(NewTask(projectId: project.id, title: "t\(index)", assignedAgentId: agent.id)).id)
            }
            let cardIDs = ids
            let notFound = try await withThrowingTaskGroup(of: Int.self) { group in
                for (index, id) in cardIDs.enumerated() {
                    group.addTask {
                        let card = try await store.tasks.update(id, TaskPatch(title: "title \(index) \"q\""))
                        #expect(card.title == "title \(index) \"q\"")
                        return 0
                    }
                    group.addTask {
                        let card = try await store.tasks.update(id, TaskPatch(description: "desc 🚀 \(index)"))
                        #expect(card.description == "desc 🚀 \(index)")
                        return 0
                    }
                    group.addTask {
                        let card = try await store.tasks.update(id, TaskPatch(labels: .array([.string("l\(index)")])))
                        #expect(card.labels == .array([.string("l\(index)")]))
                        return 0
                    }
                    group.addTask {
                        let card = try await store.tasks.update(id, TaskPatch(assignedAgentId: .some(nil)))
                        #expect(card.assignedAgentId == nil)
                        return 0
                    }
                    for repeatNumber in 0..<3 {
                        group.addTask {
                            let card = try await store.tasks.update(id, TaskPatch(priority: 100 + repeatNumber))
                            #expect(card.priority == 100 + repeatNumber)
                            return 0
                        }
                    }
                    group.addTask {
                        do {
                            _ = try await store.tasks.update("missing \(index) ' \"", TaskPatch(priority: 1))
                            return 0
                        } catch let error as StoreError where error.kind == .notFound {
                            return 1
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(notFound == cardIDs.count)
            for (index, id) in cardIDs.enumerated() {
                let card = try await store.tasks.get(id)
                #expect(card.title == "title \(index) \"q\"")
                #expect(card.description == "desc 🚀 \(index)")
                #expect(card.labels == .array([.string("l\(index)")]))
                #expect(card.assignedAgentId == nil)
                #expect((100..<103).contains(card.priority))
                #expect(card.position == index)
            }
            if store.database.dialect.hasSingleWriter {
                #expect(store.database.taskUpdates.largestBatch.load(ordering: .relaxed) > 1, "no two updates were ever batched")
            }
        }
    }

    /// 64 writers at once: no `SQLITE_BUSY`, no lost write, and per-session numbers stay dense.
    @Test(arguments: TestBackend.allCases)
    func sixtyFourConcurrentWritersLoseNothing(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "Load"))
            let session = try await store.sessions.create(NewSession(projectId: project.id))
            let told = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                for writer in 0..<64 {
                    group.addTask {
                        let card = try await store.tasks.create(NewTask(projectId: project.id, title: "w\(writer)"))
                        _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "w", payload: .object(["writer": .integer(Int64(writer))])))
                        _ = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: "m\(writer)"))
                        return (card.id, card.position)
                    }
                }
                var told: [String: Int] = [:]
                for try await (id, position) in group { told[id] = position }
                return told
            }
            let tasks = try await store.tasks.list(projectId: project.id, column: .backlog, PageRequest(limit: 500)).items
            #expect(tasks.count == 64)
            #expect(tasks.map(\.position) == Array(0..<64))
            #expect(tasks.allSatisfy { told[$0.id] == $0.position }, "a creator was told another position than the card got")
            let events = try await store.events.list(sessionId: session.id, after: 0, limit: 500)
            #expect(events.map(\.seq) == Array(1...64))
            let messages = try await store.messages.list(sessionId: session.id, PageRequest(limit: 500)).items
            #expect(messages.map(\.ordinal) == Array(1...64))
        }
    }

    /// Two separate processes' worth of connections on one SQLite file: the busy timeout and
    /// `BEGIN IMMEDIATE` make the second writer wait instead of failing.
    @Test
    func twoEnginesOnOneSQLiteFileBothWrite() async throws {
        try await TestSupport.withDatabaseURL(.sqliteFile) { url in
            let first = try await Store.open(url, logger: TestSupport.logger)
            let second = try await Store.open(url, logger: TestSupport.logger)
            defer { Task { await first.shutdown(); await second.shutdown() } }
            try await first.migrator.migrate(logger: TestSupport.logger)
            let project = try await first.projects.create(NewProject(name: "Shared"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<40 {
                    let store = index.isMultiple(of: 2) ? first : second
                    group.addTask { _ = try await store.tasks.create(NewTask(projectId: project.id, title: "t\(index)")) }
                }
                try await group.waitForAll()
            }
            let cards = try await second.tasks.list(projectId: project.id, PageRequest(limit: 500)).items
            #expect(cards.map(\.position) == Array(0..<40))
        }
    }

    /// Two server processes on one PostgreSQL database (two stores, two pools) adding and moving cards on
    /// one board at once: the single-statement append must notice the other process's board changes, so
    /// every column stays numbered 0…n-1 with no card lost or repeated.
    @Test
    func twoStoresOnOnePostgreSQLBoardKeepColumnsDense() async throws {
        try await TestSupport.withDatabaseURL(.postgres) { url in
            let first = try await Store.open(url, logger: TestSupport.logger)
            let second = try await Store.open(url, logger: TestSupport.logger)
            defer { Task { await first.shutdown(); await second.shutdown() } }
            try await first.migrator.migrate(logger: TestSupport.logger)
            let project = try await first.projects.create(NewProject(name: "Shared board"))
            var movers: [String] = []
            for index in 0..<8 { movers.append(try await first.tasks.create(NewTask(projectId: project.id, title: "m\(index)", column: .todo)).id) }
            let moverIDs = movers
            let created = try await withThrowingTaskGroup(of: [String].self) { group in
                for writer in 0..<160 {
                    let store = writer.isMultiple(of: 2) ? first : second
                    group.addTask {
                        let column: BoardColumn = writer.isMultiple(of: 3) ? .todo : .backlog
                        return [try await store.tasks.create(NewTask(projectId: project.id, title: "c\(writer)", column: column)).id]
                    }
                }
                for mover in 0..<6 {
                    let store = mover.isMultiple(of: 2) ? second : first
                    group.addTask {
                        for step in 0..<6 {
                            let column: BoardColumn = (mover + step).isMultiple(of: 2) ? .backlog : .todo
                            _ = try await store.tasks.move(moverIDs[(mover * 5 + step) % 7], to: column, position: step % 3)
                        }
                        if mover == 0 { try await store.tasks.delete(moverIDs[7]) }
                        return []
                    }
                }
                return try await group.reduce([], +)
            }
            var seen: [String] = []
            for column in BoardColumn.allCases {
                let cards = try await second.tasks.list(projectId: project.id, column: column, PageRequest(limit: 500)).items
                #expect(cards.map(\.position) == Array(0..<cards.count), "column \(column.rawValue) is not dense: \(cards.map(\.position))")
                seen += cards.map(\.id)
            }
            #expect(Set(seen) == Set(created + moverIDs.dropLast()))
            #expect(seen.count == created.count + moverIDs.count - 1)
        }
    }

    /// A card appended while another transaction holds the board and takes a card out of that column:
    /// the append's statement started before that change committed, so what it read of the column is
    /// stale; it must notice (the board row's version changed) and append after the column as committed.
    @Test
    func appendNoticesABoardChangeCommittedWhileItWaited() async throws {
        try await TestSupport.withStore(.postgres) { store in
            let project = try await store.projects.create(NewProject(name: "Stale"))
            var backlog: [String] = []
            for index in 0..<5 { backlog.append(try await store.tasks.create(NewTask(projectId: project.id, title: "b\(index)")).id) }
            let leaving = backlog[0]
            let projectId = project.id
            let change = Task {
                try await store.database.write { sql in
                    try await TaskRepository.lockBoard(projectId, sql, .postgres)
                    try await sql.raw("UPDATE tasks SET board_column = 'todo', position = 0 WHERE id = \(bind: leaving)").run()
                    try await TaskRepository.shift(projectId, .backlog, from: 1, through: nil, by: -1, sql)
                    try await Task.sleep(for: .milliseconds(600))
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            let late = try await store.tasks.create(NewTask(projectId: project.id, title: "late"))
            try await change.value
            #expect(late.position == 4)
            let cards = try await store.tasks.list(projectId: project.id, column: .backlog, PageRequest(limit: 50)).items
            #expect(cards.map(\.position) == Array(0..<5))
            #expect(cards.last?.id == late.id)
        }
    }
}
