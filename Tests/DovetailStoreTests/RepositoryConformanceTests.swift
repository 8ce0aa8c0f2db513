import DovetailStore
import DovetailTesting
import Foundation
import Testing

/// One repository suite, run on every backend: what passes on SQLite must pass on PostgreSQL.
@Suite("Repositories behave the same on every backend")
struct RepositoryConformanceTests {
    @Test(arguments: TestBackend.allCases)
    func projectsCreateReadUpdateDelete(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let created = try await store.projects.create(NewProject(name: "Alpha Team", settings: .object(["theme": .string("dark")])))
            #expect(created.slug == "alpha-team")
            let fetched = try await store.projects.get(created.id)
            #expect(fetched == created)

            let updated = try await store.projects.update(created.id, ProjectPatch(description: "new", archived: true))
            #expect(updated.description == "new")
            #expect(updated.archived)
            #expect(try await store.projects.get(created.id) == updated)

            await #expect(throws: StoreError.self) { try await store.projects.create(NewProject(name: "Other", slug: "alpha-team")) }
            do {
                _ = try await store.projects.create(NewProject(name: "Other", slug: "alpha-team"))
            } catch let error as StoreError {
                #expect(error.kind == .conflict)
            }

            try await store.projects.delete(created.id)
            await #expect(throws: StoreError.self) { try await store.projects.get(created.id) }
            do { try await store.projects.delete(created.id) } catch let error as StoreError { #expect(error.kind == .notFound) }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func keysetPaginationVisitsEveryRowOnce(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            var ids: [String] = []
            for index in 0..<7 { ids.append(try await store.projects.create(NewProject(name: "P \(index)")).id) }
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await store.projects.list(PageRequest(limit: 3, cursor: cursor))
                #expect(page.items.count <= 3)
                seen += page.items.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(seen == ids)
            do {
                _ = try await store.projects.list(PageRequest(limit: 3, cursor: "not a cursor"))
                Issue.record("a bad cursor must be refused")
            } catch let error as StoreError {
                #expect(error.kind == .invalid)
                #expect(error.field == "cursor")
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func agentsRegistry(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "P"))
            let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "planner", kind: "llm", configuration: .object(["model": .string("x")])))
            #expect(agent.status == .registered)
            #expect(try await store.agents.get(agent.id) == agent)
            let updated = try await store.agents.update(agent.id, AgentPatch(configuration: .object(["model": .string("y")]), status: .deployed))
            #expect(updated.status == .deployed)
            #expect(try await store.agents.list(projectId: project.id).items.map(\.id) == [agent.id])
            #expect(try await store.agents.list(projectId: "nope").items.isEmpty)

            do {
                _ = try await store.agents.create(NewAgent(projectId: project.id, name: "planner"))
                Issue.record("duplicate agent name must conflict")
            } catch let error as StoreError { #expect(error.kind == .conflict) }
            do {
                _ = try await store.agents.create(NewAgent(projectId: "missing", name: "x"))
                Issue.record("unknown project must be refused")
            } catch let error as StoreError {
                #expect(error.kind == .invalid)
                #expect(error.field == "project_id")
            }
            try await store.agents.delete(agent.id)
            await #expect(throws: StoreError.self) { try await store.agents.get(agent.id) }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func tasksKeepDensePositions(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "Board"))
            var cards: [TaskCard] = []
            for index in 0..<4 { cards.append(try await store.tasks.create(NewTask(projectId: project.id, title: "T\(index)", column: .todo))) }
            #expect(cards.map(\.position) == [0, 1, 2, 3])

            // Within a column: move the last card to the top.
            let moved = try await store.tasks.move(cards[3].id, to: .todo, position: 0)
            #expect(moved.position == 0)
            var todo = try await store.tasks.list(projectId: project.id, column: .todo).items
            #expect(todo.map(\.title) == ["T3", "T0", "T1", "T2"])
            #expect(todo.map(\.position) == [0, 1, 2, 3])

            // Across columns: the old column closes its gap, the new one opens one.
            _ = try await store.tasks.move(cards[0].id, to: .inProgress, position: 5)
            todo = try await store.tasks.list(projectId: project.id, column: .todo).items
            #expect(todo.map(\.title) == ["T3", "T1", "T2"])
            #expect(todo.map(\.position) == [0, 1, 2])
            let doing = try await store.tasks.list(projectId: project.id, column: .inProgress).items
            #expect(doing.map(\.title) == ["T0"])
            #expect(doing.map(\.position) == [0])

            try await store.tasks.delete(cards[1].id)
            todo = try await store.tasks.list(projectId: project.id, column: .todo).items
            #expect(todo.map(\.title) == ["T3", "T2"])
            #expect(todo.map(\.position) == [0, 1])

            // The whole board in order, across pages.
            var titles: [String] = []
            var cursor: String?
            repeat {
                let page = try await store.tasks.list(projectId: project.id, PageRequest(limit: 1, cursor: cursor))
                titles += page.items.map(\.title)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(titles == ["T3", "T2", "T0"])

            // One column across pages; a whole-board cursor used on a later, the same and an earlier column.
            titles = []
            cursor = nil
            repeat {
                let page = try await store.tasks.list(projectId: project.id, column: .todo, PageRequest(limit: 1, cursor: cursor))
                titles += page.items.map(\.title)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(titles == ["T3", "T2"])
            let boardFirst = try await store.tasks.list(projectId: project.id, PageRequest(limit: 1))
            let fromTodo = try #require(boardFirst.nextCursor)
            #expect(try await store.tasks.list(projectId: project.id, column: .inProgress, PageRequest(cursor: fromTodo)).items.map(\.title) == ["T0"])
            #expect(try await store.tasks.list(projectId: project.id, column: .todo, PageRequest(cursor: fromTodo)).items.map(\.title) == ["T2"])
            #expect(try await store.tasks.list(projectId: project.id, column: .backlog, PageRequest(cursor: fromTodo)).items.isEmpty)

            let patched = try await store.tasks.update(cards[2].id, TaskPatch(title: "renamed", labels: .array([.string("bug")])))
            #expect(patched.title == "renamed")
            #expect(patched.labels == .array([.string("bug")]))
            do {
                _ = try await store.tasks.move(cards[2].id, to: .done, position: -1)
                Issue.record("negative position must be refused")
            } catch let error as StoreError { #expect(error.field == "position") }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func sessionsMessagesAndEvents(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "P"))
            let session = try await store.sessions.create(NewSession(projectId: project.id, userId: "u1", title: "Chat", metadata: .object(["k": .integer(1)])))
            let first = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: "hello"))
            let second = try await store.messages.append(sessionId: session.id, NewMessage(role: .assistant, content: "hi"))
            #expect([first.ordinal, second.ordinal] == [1, 2])
            #expect(try await store.messages.list(sessionId: session.id).items == [first, second])

            for index in 1...5 { _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "tick", payload: .object(["n": .integer(Int64(index))]))) }
            let replay = try await store.events.list(sessionId: session.id, after: 2)
            #expect(replay.map(\.seq) == [3, 4, 5])

            let viewed = try await store.sessions.update(session.id, SessionPatch(status: .paused, markViewed: true))
            #expect(viewed.status == .paused)
            #expect(viewed.lastViewedAt != nil)
            #expect(try await store.sessions.get(session.id).messageCount == 2)

            try await store.sessions.delete(session.id)
            await #expect(throws: StoreError.self) { try await store.sessions.get(session.id) }
            await #expect(throws: StoreError.self) { try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: "late")) }
            #expect(try await store.sessions.list(projectId: project.id).items.isEmpty)
        }
    }

    /// Quotes, unicode, emoji and SQL-looking text must come back byte for byte in every text field.
    @Test(arguments: TestBackend.allCases)
    func specialCharactersRoundTripExactly(_ backend: TestBackend) async throws {
        let nasty = [
            "it's \"quoted\" `back`", "'; DROP TABLE projects; --", "ünïcødé ∑ 日本語", "emoji 🧑🏽‍💻🚀", "back\\slash % _ $1 ?",
            "line\nbreak\ttab", "  padded  ", "",
        ]
        try await TestSupport.withStore(backend) { store in
            for (index, text) in nasty.enumerated() {
                let json: JSONValue = .object([text: .string(text), "list": .array([.string(text), .integer(Int64.max), .number(1.5), .bool(true), .null])])
                let project = try await store.projects.create(NewProject(name: "n\(index) \(text)", slug: "s\(index)", description: text, settings: json))
                #expect(try await store.projects.get(project.id).description == text)
                #expect(try await store.projects.get(project.id).settings == json)
                #expect(try await store.projects.get(project.id).name == "n\(index) \(text)")
                let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "a \(text)", kind: "k\(text)", configuration: json))
                #expect(try await store.agents.get(agent.id) == agent)
                let task = try await store.tasks.create(NewTask(projectId: project.id, title: "t \(text)", description: text, labels: .array([.string(text)])))
                #expect(try await store.tasks.get(task.id) == task)
                let session = try await store.sessions.create(NewSession(projectId: project.id, userId: text, title: text, metadata: json))
                #expect(try await store.sessions.get(session.id) == session)
                let message = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: text, metadata: json))
                #expect(try await store.messages.list(sessionId: session.id).items == [message])
                let event = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "t \(text)", payload: json))
                #expect(try await store.events.list(sessionId: session.id) == [event])
            }
            do {
                _ = try await store.projects.create(NewProject(name: "nul \u{0000} byte"))
                Issue.record("NUL must be refused on every backend")
            } catch let error as StoreError { #expect(error.kind == .invalid) }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func unknownAndOddIdsAreNotFound(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            for id in ["missing", "with space", "it's", "\"quoted\"", "'; DROP TABLE tasks; --", "日本"] {
                do {
                    _ = try await store.tasks.get(id)
                    Issue.record("expected not found for \(id)")
                } catch let error as StoreError {
                    #expect(error.kind == .notFound)
                    #expect(error.message.contains(id))
                }
            }
        }
    }
}
