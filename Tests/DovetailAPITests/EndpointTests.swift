import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("HTTP API, on every backend")
struct EndpointTests {
    @Test(arguments: TestBackend.allCases)
    func projectLifecycleAndErrors(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let created = try await client.send("/api/projects", .post, json: #"{"name":"Alpha","settings":{"camelKey":{"b":1,"a":[1,2.5,"x"]}}}"#)
            #expect(created.status == .created)
            let project = try created.json(Project.self)
            #expect(project.slug == "alpha")
            #expect(created.text.contains("\"created_at\""))
            #expect(created.text.contains("\"camelKey\""), "user JSON keys must not be rewritten")

            let fetched = try await client.send("/api/projects/\(project.id)", .get)
            #expect(fetched.status == .ok)
            #expect(try fetched.json(Project.self) == project)

            let duplicate = try await client.send("/api/projects", .post, json: #"{"name":"Alpha"}"#)
            #expect(duplicate.status == .conflict)
            #expect(duplicate.headers[.contentType] == "application/problem+json")
            #expect(try duplicate.json(ProblemBody.self).status == 409)

            let missing = try await client.send("/api/projects", .post, json: #"{"description":"no name"}"#)
            #expect(missing.status == .unprocessableContent)
            #expect(try missing.json(ProblemBody.self).field == "name")

            let wrongType = try await client.send("/api/projects", .post, json: #"{"name":42}"#)
            #expect(wrongType.status == .unprocessableContent)
            #expect(try wrongType.json(ProblemBody.self).field == "name")

            let badSlug = try await client.send("/api/projects", .post, json: #"{"name":"x","slug":"Not A Slug"}"#)
            #expect(badSlug.status == .unprocessableContent)
            #expect(try badSlug.json(ProblemBody.self).field == "slug")

            let malformed = try await client.send("/api/projects", .post, json: #"{"name": "#)
            #expect(malformed.status == .badRequest)
            #expect(malformed.headers[.contentType] == "application/problem+json")

            let empty = try await client.send("/api/projects", .post)
            #expect(empty.status == .badRequest)

            for id in ["nope", "with%20space", "it's", "%22quoted%22", "%27%3B%20DROP%20TABLE%20projects%3B%20--"] {
                let response = try await client.send("/api/projects/\(id)", .get)
                #expect(response.status == .notFound, "id \(id)")
                #expect(try response.json(ProblemBody.self).status == 404)
            }

            let patched = try await client.send("/api/projects/\(project.id)", .patch, json: #"{"archived":true}"#)
            #expect(try patched.json(Project.self).archived)

            #expect(try await client.send("/api/projects/\(project.id)", .delete).status == .noContent)
            #expect(try await client.send("/api/projects/\(project.id)", .get).status == .notFound)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func listsArePaginatedWithNextCursor(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            for index in 0..<5 { _ = try await client.send("/api/projects", .post, json: #"{"name":"P\#(index)"}"#) }
            var names: [String] = []
            var uri = "/api/projects?limit=2"
            while true {
                let page = try await client.send(uri, .get).json(ListBody<Project>.self)
                names += page.items.map(\.name)
                guard let cursor = page.next_cursor else { break }
                uri = "/api/projects?limit=2&cursor=\(cursor)"
            }
            #expect(names == ["P0", "P1", "P2", "P3", "P4"])
            #expect(try await client.send("/api/projects?limit=abc", .get).status == .unprocessableContent)
            #expect(try await client.send("/api/projects?limit=0", .get).status == .unprocessableContent)
            #expect(try await client.send("/api/projects?cursor=zzz", .get).status == .unprocessableContent)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func agentsAndTasksBoard(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let project = try await client.send("/api/projects", .post, json: #"{"name":"Board"}"#).json(Project.self)
            let agentResponse = try await client.send("/api/agents", .post, json: #"{"project_id":"\#(project.id)","name":"coder","kind":"llm"}"#)
            #expect(agentResponse.status == .created)
            let agent = try agentResponse.json(Agent.self)
            #expect(try await client.send("/api/agents?project_id=\(project.id)", .get).json(ListBody<Agent>.self).items.map(\.id) == [agent.id])
            #expect(try await client.send("/api/agents/\(agent.id)", .patch, json: #"{"status":"nonsense"}"#).status == .unprocessableContent)
            let unknownProject = try await client.send("/api/agents", .post, json: #"{"project_id":"missing","name":"x"}"#)
            #expect(unknownProject.status == .unprocessableContent)
            #expect(try unknownProject.json(ProblemBody.self).field == "project_id")

            var ids: [String] = []
            for title in ["a", "b", "c"] {
                let response = try await client.send("/api/tasks", .post, json: #"{"project_id":"\#(project.id)","title":"\#(title)","column":"todo"}"#)
                #expect(response.status == .created)
                ids.append(try response.json(TaskCard.self).id)
            }
            let moved = try await client.send("/api/tasks/\(ids[2])/move", .post, json: #"{"column":"todo","position":0}"#)
            #expect(moved.status == .ok)
            #expect(try moved.json(TaskCard.self).position == 0)
            let todo = try await client.send("/api/tasks?project_id=\(project.id)&column=todo", .get).json(ListBody<TaskCard>.self).items
            #expect(todo.map(\.title) == ["c", "a", "b"])
            #expect(todo.map(\.position) == [0, 1, 2])

            let toReview = try await client.send("/api/tasks/\(ids[0])/move", .post, json: #"{"column":"review"}"#)
            #expect(try toReview.json(TaskCard.self).column == .review)
            #expect(try await client.send("/api/tasks/\(ids[0])/move", .post, json: #"{"column":"nowhere"}"#).status == .unprocessableContent)
            #expect(try await client.send("/api/tasks/missing/move", .post, json: #"{"column":"done"}"#).status == .notFound)
            #expect(try await client.send("/api/tasks?column=todo", .get).status == .unprocessableContent)

            let assigned = try await client.send("/api/tasks/\(ids[1])", .patch, json: #"{"assigned_agent_id":"\#(agent.id)"}"#)
            #expect(try assigned.json(TaskCard.self).assignedAgentId == agent.id)
            let unassigned = try await client.send("/api/tasks/\(ids[1])", .patch, json: #"{"assigned_agent_id":null}"#)
            #expect(try unassigned.json(TaskCard.self).assignedAgentId == nil)
            #expect(try await client.send("/api/tasks/\(ids[1])", .delete).status == .noContent)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func sessionsMessagesAndEventReplay(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let project = try await client.send("/api/projects", .post, json: #"{"name":"S"}"#).json(Project.self)
            let session = try await client.send("/api/sessions", .post, json: #"{"project_id":"\#(project.id)","title":"chat","metadata":{"channel":"web"}}"#)
                .json(AgentSession.self)
            #expect(session.metadata == .object(["channel": .string("web")]))
            for text in ["one", "two"] {
                #expect(try await client.send("/api/sessions/\(session.id)/messages", .post, json: #"{"role":"user","content":"\#(text)"}"#).status == .created)
            }
            let messages = try await client.send("/api/sessions/\(session.id)/messages", .get).json(ListBody<Message>.self).items
            #expect(messages.map(\.ordinal) == [1, 2])
            #expect(try await client.send("/api/sessions/\(session.id)/messages", .post, json: #"{"role":"robot","content":"x"}"#).status == .unprocessableContent)

            for index in 1...4 {
                #expect(try await client.send("/api/sessions/\(session.id)/events", .post, json: #"{"type":"step","payload":{"i":\#(index)}}"#).status == .created)
            }
            let replay = try await client.send("/api/sessions/\(session.id)/events?after=2", .get)
            let body = try replay.json(ListBody<SessionEvent>.self)
            #expect(body.items.map(\.seq) == [3, 4])
            #expect(try await client.send("/api/sessions/\(session.id)/events?after=-1", .get).status == .unprocessableContent)

            #expect(try await client.send("/api/sessions/\(session.id)", .delete).status == .noContent)
            #expect(try await client.send("/api/sessions/\(session.id)", .get).status == .notFound)
            #expect(try await client.send("/api/sessions/\(session.id)/events", .get).status == .notFound)
        }
    }

    /// Every text field, through JSON and back, byte for byte.
    @Test(arguments: TestBackend.allCases)
    func specialCharactersSurviveTheAPI(_ backend: TestBackend) async throws {
        let text = "it's \"q\" '; DROP TABLE sessions; -- ünï 日本 🧑🏽‍💻 \\ \n\t%_"
        try await TestSupport.withClient(backend) { client, _ in
            let project = try await client.send("/api/projects", .post, body: NewProject(name: text, slug: "odd", description: text)).json(Project.self)
            #expect(project.name == text)
            #expect(try await client.send("/api/projects/\(project.id)", .get).json(Project.self).description == text)
            let session = try await client.send("/api/sessions", .post, body: NewSession(projectId: project.id, userId: text, title: text, metadata: .object([text: .string(text)])))
                .json(AgentSession.self)
            let fetched = try await client.send("/api/sessions/\(session.id)", .get).json(AgentSession.self)
            #expect(fetched.title == text)
            #expect(fetched.userId == text)
            #expect(fetched.metadata == .object([text: .string(text)]))
            _ = try await client.send("/api/sessions/\(session.id)/messages", .post, body: NewMessage(role: .assistant, content: text))
            #expect(try await client.send("/api/sessions/\(session.id)/messages", .get).json(ListBody<Message>.self).items.first?.content == text)
        }
    }

    @Test(arguments: [TestBackend.sqliteMemory, .postgres])
    func bodiesOverOneMebibyteAreRefused(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let big = String(repeating: "x", count: 1024 * 1024 + 10)
            let response = try await client.send("/api/projects", .post, json: #"{"name":"\#(big)"}"#)
            #expect(response.status == .contentTooLarge)
            #expect(try response.json(ProblemBody.self).status == 413)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func healthAndMetrics(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, store in
            let health = try await client.send("/health", .get)
            #expect(health.status == .ok)
            struct Health: Decodable {
                var status: String
                var backend: String
                var database: String
                var schema_version: Int
                var round_trip_ms: Double
            }
            let body = try health.json(Health.self)
            #expect(body.status == "ok")
            #expect(body.backend == (backend == .postgres ? "postgres" : "sqlite"))
            #expect(body.schema_version == Migrations.latestVersion)
            if case .postgres(let info) = store.database.url, let password = info.password {
                #expect(!health.text.contains(password))
            }
            _ = try await client.send("/api/projects", .get)
            let metrics = try await client.send("/metrics", .get)
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains("hb_requests") || metrics.text.contains("hb_request"))
        }
    }

    /// 64 clients writing through the API at once: every request succeeds and nothing is lost.
    @Test(arguments: TestBackend.allCases)
    func sixtyFourConcurrentClients(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, store in
            let project = try await client.send("/api/projects", .post, json: #"{"name":"Load"}"#).json(Project.self)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        try await client.send("/api/tasks", .post, json: #"{"project_id":"\#(project.id)","title":"t\#(index)"}"#).status
                    }
                }
                var all: [HTTPResponse.Status] = []
                for try await status in group { all.append(status) }
                return all
            }
            #expect(statuses.allSatisfy { $0 == .created }, "\(statuses.filter { $0 != .created })")
            let cards = try await store.tasks.list(projectId: project.id, PageRequest(limit: 500)).items
            #expect(cards.count == 64)
            #expect(cards.map(\.position) == Array(0..<64))
        }
    }
}
