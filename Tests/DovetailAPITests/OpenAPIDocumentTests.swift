import DovetailAPI
import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

/// `openapi.json` at the root of the repository is checked against the running server: every
/// documented operation is called and answers with a documented status and a body of the
/// documented shape, every documented field and parameter is really read by the server, and the
/// document lists exactly the routes the router registers, each with the token role the server
/// enforces when authentication is on.
@Suite("OpenAPI document matches the server")
struct OpenAPIDocumentTests {
    /// Every route the router registers, read from `buildRouter` and the controllers in
    /// `Sources/DovetailAPI`. Adding a route means adding it here and to `openapi.json`.
    static let registeredRoutes: Set<String> = [
        // HealthController, MetricsController
        "GET /health", "GET /health/live", "GET /health/ready",
        "GET /metrics",
        // ProjectsController
        "POST /api/projects", "GET /api/projects",
        "GET /api/projects/{id}", "PATCH /api/projects/{id}", "DELETE /api/projects/{id}",
        // AgentsController
        "POST /api/agents", "GET /api/agents",
        "GET /api/agents/{id}", "PATCH /api/agents/{id}", "DELETE /api/agents/{id}",
        "POST /api/agents/{id}/deploy", "POST /api/agents/{id}/update", "POST /api/agents/{id}/undeploy",
        // TasksController
        "POST /api/tasks", "GET /api/tasks",
        "GET /api/tasks/{id}", "PATCH /api/tasks/{id}", "DELETE /api/tasks/{id}", "POST /api/tasks/{id}/move",
        // SessionsController
        "POST /api/sessions", "GET /api/sessions",
        "GET /api/sessions/{id}", "PATCH /api/sessions/{id}", "DELETE /api/sessions/{id}",
        "POST /api/sessions/{id}/messages", "GET /api/sessions/{id}/messages",
        "POST /api/sessions/{id}/events", "GET /api/sessions/{id}/events",
        "GET /api/sessions/{id}/events/stream",
        // WorkflowsController, CheckpointsController
        "POST /api/workflows", "GET /api/workflows", "GET /api/workflows/{id}", "POST /api/workflows/{id}/archive",
        "POST /api/workflows/{id}/versions", "GET /api/workflows/{id}/versions", "GET /api/workflows/{id}/versions/{version}",
        "POST /api/workflows/{id}/checkpoints", "GET /api/workflows/{id}/checkpoints", "GET /api/workflows/{id}/checkpoints/best",
        "POST /api/checkpoints/{id}/best",
        // RunsController
        "POST /api/runs", "GET /api/runs", "POST /api/runs/claim", "GET /api/runs/{id}", "POST /api/runs/{id}/lease",
        "POST /api/runs/{id}/steps", "GET /api/runs/{id}/steps", "POST /api/runs/{id}/finish",
        // SearchController, TokensController
        "GET /api/search",
        "POST /api/tokens", "GET /api/tokens", "DELETE /api/tokens/{id}",
    ]

    /// Statuses that are documented but that these tests cannot provoke on a healthy database.
    static let unprovokedStatuses: Set<Int> = [503]

    /// Statuses only a router with authentication on answers; `documentedRolesAreEnforced` provokes them.
    static let authenticationStatuses: Set<Int> = [401, 403]

    /// Operations documented with more than one success status, and which.
    static let alternativeSuccesses: [String: Set<Int>] = ["POST /api/runs/claim": [200, 204]]

    /// Operations that do not answer an unknown id in the path with 404, and what they answer instead.
    /// `openapi.json` documents both; they differ from the rest of the API.
    static let unknownPathIdAnswers: [String: (status: Int, field: String?)] = [
        "POST /api/runs/{id}/lease": (409, nil),
        "POST /api/runs/{id}/steps": (422, "run_id"),
    ]

    /// Where a rule's problem names another field than the documented body field (the field's
    /// description says so): operation → documented name → the name in the problem's `field`.
    static let problemFieldNames: [String: [String: String]] = [
        "POST /api/tokens": ["expires_in_seconds": "expires_in"],
    ]

    /// Operations whose request body is optional: sent none, they answer their success instead of 400.
    static let optionalBodies: Set<String> = ["POST /api/agents/{id}/undeploy"]

    /// DELETEs that answer their success again when repeated (a token is revoked, not deleted).
    static let repeatableDeletes: Set<String> = ["DELETE /api/tokens/{id}"]

    /// Body fields holding the id of another row: an id that does not exist is refused with 422 naming the field.
    static let referenceFields: [String: [String]] = [
        "POST /api/agents": ["project_id"],
        "POST /api/tasks": ["project_id", "assigned_agent_id"],
        "PATCH /api/tasks/{id}": ["assigned_agent_id"],
        "POST /api/sessions": ["project_id", "agent_id"],
        "POST /api/workflows": ["project_id"],
        "POST /api/workflows/{id}/checkpoints": ["run_id"],
        "POST /api/runs": ["workflow_id"],
    ]

    /// The scope a route needs when authentication is on, by the rule `AuthMiddleware` applies (nil:
    /// open). `documentedRolesAreEnforced` checks the document's roles against the server itself.
    static func role(method: String, path: String) -> String? {
        if ["/health", "/health/live", "/health/ready"].contains(path) { return nil }
        if path.hasPrefix("/api/tokens") { return "admin" }
        return method == "GET" ? "read" : "write"
    }

    @Test
    func documentListsExactlyTheRegisteredRoutes() throws {
        let document = try OpenAPIDocument.load()
        #expect(document.root["openapi"]?.openAPIString?.hasPrefix("3.1") == true)
        let documented = Set(document.operations.map(\.key))
        #expect(documented.count == document.operations.count, "an operation is documented twice")
        #expect(documented.subtracting(Self.registeredRoutes).sorted() == [], "documented but not registered")
        #expect(Self.registeredRoutes.subtracting(documented).sorted() == [], "registered but not documented")
        let scheme = document.lookup("#/components/securitySchemes/bearerAuth")?.openAPIObject
        #expect(scheme?["type"] == .string("http") && scheme?["scheme"] == .string("bearer"), "bearerAuth should be an HTTP bearer scheme")
        #expect(scheme?["description"]?.openAPIString?.contains("DOVETAIL_AUTH=required") == true, "bearerAuth should say when it applies")
        for operation in document.operations {
            let statuses = document.statuses(operation)
            let successes = statuses.filter { (200..<300).contains($0) }
            if let alternatives = Self.alternativeSuccesses[operation.key] {
                #expect(successes == alternatives, "\(operation.key) documents \(successes.sorted()) as success")
            } else {
                #expect(successes.count == 1, "\(operation.key) documents \(successes.sorted()) as success")
            }
            #expect(operation.object["responses"]?.openAPIObject?["default"] != nil, "\(operation.key) has no default (500) response")
            // The role the server requires, and the statuses authentication adds: 401 everywhere it
            // applies, 403 only where a valid token can fall short (no scope is below read).
            let security = operation.object["security"]
            if let role = Self.role(method: operation.method, path: operation.path) {
                #expect(security == .array([.object(["bearerAuth": .array([.string(role)])])]), "\(operation.key) should need role \(role)")
                #expect(statuses.contains(401), "\(operation.key) does not document 401")
                #expect(statuses.contains(403) == (role != "read"), "\(operation.key): 403 should be documented exactly when the role is above read")
            } else {
                #expect(security == .array([]), "\(operation.key) is open and should say so with an empty security list")
                #expect(statuses.isDisjoint(with: Self.authenticationStatuses), "\(operation.key) is open")
            }
        }
        // Every $ref in the document resolves.
        var unresolved: [String] = []
        func walk(_ value: JSONValue, _ at: String) {
            switch value {
            case .object(let members):
                if let target = members["$ref"]?.openAPIString, document.lookup(target) == nil { unresolved.append("\(at): \(target)") }
                for (key, member) in members { walk(member, "\(at)/\(key)") }
            case .array(let items):
                for (index, item) in items.enumerated() { walk(item, "\(at)/\(index)") }
            default:
                break
            }
        }
        walk(.object(document.root), "#")
        #expect(unresolved == [])
    }

    /// The list above against what the router reports it registered, so a route added to a
    /// controller without being documented fails here by name.
    @Test
    func routerRegistersExactlyTheListedRoutes() async throws {
        try await TestSupport.withStore(.sqliteMemory) { store in
            let registered = Set(buildRouter(store: store).routes.map { "\($0.method.rawValue) \($0.path)" })
            #expect(registered.subtracting(Self.registeredRoutes).sorted() == [], "registered but neither listed here nor documented in openapi.json")
            #expect(Self.registeredRoutes.subtracting(registered).sorted() == [], "listed here but not registered")
        }
    }

    @Test(.timeLimit(.minutes(5)), arguments: TestBackend.allCases)
    func everyOperationAnswersAsDocumented(_ backend: TestBackend) async throws {
        let document = try OpenAPIDocument.load()
        try await TestSupport.withClient(backend) { client, store in
            var run = OpenAPIConformance(document: document, client: client)

            // Rows every path id points at, made through the store; the `doomed` ones are deleted.
            let metadata: JSONValue = .object(["channel": .string("web"), "tier": .integer(2), "beta": .bool(true)])
            let project = try await store.projects.create(NewProject(name: "Conformance"))
            let otherProject = try await store.projects.create(NewProject(name: "Other project"))
            let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "coder", kind: "llm"))
            let otherAgent = try await store.agents.create(NewAgent(projectId: project.id, name: "reviewer"))
            let task = try await store.tasks.create(NewTask(projectId: project.id, title: "card", column: .todo, assignedAgentId: agent.id))
            _ = try await store.tasks.create(NewTask(projectId: project.id, title: "second card", column: .todo))
            let session = try await store.sessions.create(
                NewSession(projectId: project.id, agentId: agent.id, userId: "u-1", title: "chat", metadata: metadata)
            )
            _ = try await store.sessions.create(NewSession(projectId: otherProject.id))
            for text in ["one", "two", "Release notes drafted"] { _ = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: text)) }
            for index in 1...2 {
                _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "step", payload: .object(["i": .integer(Int64(index))])))
            }
            let doomedProject = try await store.projects.create(NewProject(name: "Doomed"))
            let doomedAgent = try await store.agents.create(NewAgent(projectId: project.id, name: "doomed"))
            let doomedTask = try await store.tasks.create(NewTask(projectId: project.id, title: "doomed"))
            let doomedSession = try await store.sessions.create(NewSession(projectId: project.id))

            // Workflows: one with a published version (the one path ids point at), one with none, an
            // archived one and one for `POST .../archive` to archive.
            let workflow = try await store.workflows.create(NewWorkflow(projectId: project.id, handle: "nightly", name: "Nightly"))
            _ = try await store.workflows.publish(workflowId: workflow.id, definition: .object(["steps": .array([.string("fetch")])]))
            let unpublished = try await store.workflows.create(NewWorkflow(projectId: project.id, handle: "draft"))
            let archived = try await store.workflows.create(NewWorkflow(projectId: project.id, handle: "retired"))
            _ = try await store.workflows.archive(archived.id)
            let archivable = try await store.workflows.create(NewWorkflow(projectId: project.id, handle: "to-archive"))
            // Runs: `run` is claimed by `worker` (it is the only pending one) and has step 0; one is
            // finished; two more wait for `POST /api/runs/claim`.
            let worker = "worker-1"
            let run1 = try await store.runs.start(NewRun(workflowId: workflow.id, inputs: .object(["day": .string("mon")]), metadata: metadata))
            let claimed = try await store.runs.claim(workerId: worker, leaseSeconds: 3600)
            #expect(claimed?.id == run1.id)
            _ = try await store.runs.appendStep(runId: run1.id, NewRunStep(stepIndex: 0, name: "fetch", status: .succeeded))
            let finishedRun = try await store.runs.start(NewRun(workflowId: workflow.id))
            _ = try await store.runs.finish(runId: finishedRun.id, RunCompletion(status: .failed, error: "boom"))
            for _ in 1...2 { _ = try await store.runs.start(NewRun(workflowId: workflow.id)) }
            let checkpoint = try await store.checkpoints.save(
                workflowId: workflow.id, NewCheckpoint(runId: run1.id, configVersion: "c1", metrics: .object(["score": .number(0.5)]))
            )
            _ = try await store.checkpoints.save(workflowId: workflow.id, NewCheckpoint(configVersion: "c2", isBest: true))
            _ = try await store.tokens.create(name: "ci", scope: .read)
            let doomedToken = try await store.tokens.create(name: "doomed", scope: .write).token

            /// `path` with its parameters filled in: `{id}` with the row the operation works on (or the
            /// one a DELETE may delete), `{version}` with a published version; `values` overrides either.
            func concrete(_ path: String, key: String = "", deleting: Bool = false, _ values: [String: String] = [:]) -> String {
                let id: String
                switch key {
                case "POST /api/workflows/{id}/archive": id = archivable.id
                case "POST /api/runs/{id}/finish": id = finishedRun.id  // only success probes need a run that can still finish
                default:
                    if path.hasPrefix("/api/projects/") { id = deleting ? doomedProject.id : project.id }
                    else if path.hasPrefix("/api/agents/") { id = deleting ? doomedAgent.id : agent.id }
                    else if path.hasPrefix("/api/tasks/") { id = deleting ? doomedTask.id : task.id }
                    else if path.hasPrefix("/api/workflows/") { id = workflow.id }
                    else if path.hasPrefix("/api/checkpoints/") { id = checkpoint.id }
                    else if path.hasPrefix("/api/runs/") { id = run1.id }
                    else if path.hasPrefix("/api/tokens/") { id = doomedToken.id }
                    else { id = deleting ? doomedSession.id : session.id }
                }
                let filled = ["id": id, "version": "1"].merging(values) { $1 }
                return filled.reduce(path) { $0.replacingOccurrences(of: "{\($1.key)}", with: $1.value) }
            }
            /// The path for a success that uses its row up: finishing a run works once, so each gets a fresh run.
            func successPath(_ operation: OpenAPIDocument.Operation) async throws -> String {
                guard operation.key == "POST /api/runs/{id}/finish" else { return concrete(operation.path, key: operation.key) }
                return concrete(operation.path, key: operation.key, ["id": try await store.runs.start(NewRun(workflowId: workflow.id)).id])
            }
            /// Values for required query parameters, and real values for optional filters.
            let queryValues = [
                "project_id": project.id, "agent_id": agent.id, "workflow_id": workflow.id, "q": "release",
                "metadata": #"{"beta":true,"channel":"web","tier":2}"#,
            ]

            /// A body with every documented field, per operation; `token` keeps names and slugs unique.
            let fullBodies: [String: @Sendable (String) -> [String: JSONValue]] = [
                "POST /api/projects": { token in
                    ["name": .string("Project \(token)"), "slug": .string("p-\(token)"), "description": .string("d"),
                     "settings": .object(["camelCase": .array([.integer(1), .number(2.5)])])]
                },
                "PATCH /api/projects/{id}": { token in
                    ["name": .string("Renamed \(token)"), "slug": .string("r-\(token)"), "description": .string("d2"),
                     "settings": .object(["k": .bool(true)]), "archived": .bool(false)]
                },
                "POST /api/agents": { token in
                    ["project_id": .string(project.id), "name": .string("agent \(token)"), "kind": .string("llm"),
                     "configuration": .object(["model": .string("m")])]
                },
                "PATCH /api/agents/{id}": { token in
                    ["name": .string("coder \(token)"), "kind": .string("tool"), "configuration": .object(["t": .integer(1)]),
                     "status": .string("deployed"), "last_error": .string("none yet")]
                },
                // Keeps the database, so that `POST .../update` (probed after it) finds one.
                "POST /api/agents/{id}/undeploy": { _ in ["drop_database": .bool(false)] },
                "POST /api/tasks": { token in
                    ["project_id": .string(project.id), "title": .string("task \(token)"), "description": .string("d"),
                     "column": .string("review"), "priority": .integer(3), "labels": .array([.string("x")]),
                     "assigned_agent_id": .string(agent.id)]
                },
                "PATCH /api/tasks/{id}": { token in
                    ["title": .string("card \(token)"), "description": .string("d"), "priority": .integer(1),
                     "labels": .array([.string("y")]), "assigned_agent_id": .string(agent.id)]
                },
                "POST /api/tasks/{id}/move": { _ in ["column": .string("in_progress"), "position": .integer(0)] },
                "POST /api/sessions": { token in
                    ["project_id": .string(project.id), "agent_id": .string(agent.id), "user_id": .string("user \(token)"),
                     "title": .string("t"), "metadata": .object(["channel": .string("web")])]
                },
                "PATCH /api/sessions/{id}": { token in
                    ["title": .string("chat \(token)"), "status": .string("paused"), "metadata": .object(["m": .null]),
                     "mark_viewed": .bool(true)]
                },
                "POST /api/sessions/{id}/messages": { token in
                    ["role": .string("assistant"), "content": .string("hello \(token)"), "metadata": .object(["tokens": .integer(3)])]
                },
                "POST /api/sessions/{id}/events": { _ in ["type": .string("step"), "payload": .object(["i": .integer(3)])] },
                "POST /api/workflows": { token in
                    ["project_id": .string(project.id), "handle": .string("flow-\(token)"), "name": .string("Flow \(token)"),
                     "description": .string("d")]
                },
                "POST /api/workflows/{id}/versions": { _ in ["definition": .object(["steps": .array([.string("a"), .string("b")])])] },
                "POST /api/workflows/{id}/checkpoints": { token in
                    ["run_id": .string(run1.id), "config_version": .string("c-\(token)"), "metrics": .object(["score": .number(0.75)]),
                     "is_best": .bool(true)]
                },
                "POST /api/runs": { _ in
                    ["workflow_id": .string(workflow.id), "version": .integer(1), "inputs": .object(["day": .string("tue")]),
                     "metadata": metadata]
                },
                "POST /api/runs/claim": { _ in ["worker_id": .string("worker-2"), "lease_seconds": .integer(3600)] },
                "POST /api/runs/{id}/lease": { _ in ["worker_id": .string(worker), "lease_seconds": .integer(3600)] },
                "POST /api/runs/{id}/steps": { token in
                    // The token's number keeps step indexes unique within the run.
                    ["step_index": .integer(Int64(token.dropFirst()) ?? 1), "name": .string("step \(token)"), "status": .string("succeeded"),
                     "input_tokens": .integer(12), "output_tokens": .integer(34), "output": .object(["rows": .integer(5)])]
                },
                "POST /api/runs/{id}/finish": { _ in
                    ["status": .string("succeeded"), "outputs": .object(["ok": .bool(true)]), "error": .string("none")]
                },
                "POST /api/tokens": { token in
                    ["name": .string("token \(token)"), "scope": .string("write"), "expires_in_seconds": .integer(3600)]
                },
            ]
            /// Bodies that break a uniqueness or state rule, for every operation that documents 409.
            let conflictBodies: [String: [String: JSONValue]] = [
                "POST /api/projects": ["name": .string("Clash"), "slug": .string(otherProject.slug)],
                "PATCH /api/projects/{id}": ["slug": .string(otherProject.slug)],
                "POST /api/agents": ["project_id": .string(project.id), "name": .string(otherAgent.name)],
                "PATCH /api/agents/{id}": ["name": .string(otherAgent.name)],
                "POST /api/workflows": ["project_id": .string(project.id), "handle": .string(workflow.handle)],
                "POST /api/runs/{id}/lease": ["worker_id": .string("another-worker"), "lease_seconds": .integer(60)],
                "POST /api/runs/{id}/steps": ["step_index": .integer(0), "name": .string("again"), "status": .string("failed")],
                "POST /api/runs/{id}/finish": ["status": .string("cancelled")],
            ]

            for operation in document.operations {
                let path = operation.path
                let uri = concrete(path, key: operation.key)
                let unknown = concrete(path, key: operation.key, ["id": "no-such-id"])
                let statuses = document.statuses(operation)
                let success = try #require(document.success(operation), "\(operation.key) has no 2xx")
                let streaming = document.response(operation, success)?["content"]?.openAPIObject?["text/event-stream"] != nil
                let queryParameters = document.parameters(operation).filter { $0["in"]?.openAPIString == "query" }
                var requiredQuery: [String: String] = [:]
                for parameter in queryParameters where parameter["required"] == .bool(true) {
                    let name = try #require(parameter["name"]?.openAPIString)
                    let value = try #require(queryValues[name], "no test value for required \(name)")
                    requiredQuery[name] = value
                }

                // The documented success, with every documented body field and then with only the required ones.
                // A stream never ends, so its 200 is checked over a socket in `eventStreamAnswersAsDocumented`.
                if let schema = document.requestSchema(operation) {
                    let makeBody = try #require(fullBodies[operation.key], "no test body for \(operation.key)")
                    let properties = schema["properties"]?.openAPIObject ?? [:]
                    let required = schema["required"]?.openAPIArray?.compactMap(\.openAPIString) ?? []
                    let full = makeBody(run.token())
                    #expect(Set(full.keys) == Set(properties.keys), "\(operation.key): the test body should use every documented field")
                    #expect(document.violations(.object(full), .object(schema), at: "request").isEmpty)
                    try await run.probe(operation, try await successPath(operation), json: full, expect: success, "every documented field")
                    let minimal = makeBody(run.token()).filter { required.contains($0.key) }
                    try await run.probe(operation, try await successPath(operation), json: minimal, expect: success, "only the required fields")

                    // Each required field is required, and each documented field is read: a value of the
                    // wrong type is refused naming it (a misspelt name would be ignored and answer 2xx),
                    // and so is a value breaking the field's documented enum, pattern, length or range.
                    for field in required {
                        var body = makeBody(run.token())
                        body[field] = nil
                        try await run.probe(operation, uri, json: body, expect: 422, field: field, "without \(field)")
                    }
                    for (field, fieldSchema) in properties.sorted(by: { $0.key < $1.key }) {
                        var body = makeBody(run.token())
                        body[field] = document.wrongValue(for: fieldSchema)
                        try await run.probe(operation, uri, json: body, expect: 422, field: field, "\(field) of the wrong type")
                        let rules = document.resolve(fieldSchema).openAPIObject ?? [:]
                        let named = Self.problemFieldNames[operation.key]?[field] ?? field
                        var breaking: [(JSONValue, String)] = []
                        if rules["enum"] != nil { breaking.append((.string("no-such-value"), "not one of the values")) }
                        if let pattern = rules["pattern"]?.openAPIString, let regex = try? Regex(pattern), "Not a valid value!".firstMatch(of: regex) == nil {
                            breaking.append((.string("Not a valid value!"), "not matching \(pattern)"))
                        }
                        if case .integer(let length) = rules["maxLength"] { breaking.append((.string(String(repeating: "a", count: Int(length) + 1)), "longer than \(length)")) }
                        if case .integer(let minimum) = rules["minimum"] { breaking.append((.integer(minimum - 1), "below the minimum")) }
                        if case .integer(let maximum) = rules["maximum"] { breaking.append((.integer(maximum + 1), "above the maximum")) }
                        for (value, why) in breaking {
                            body = makeBody(run.token())
                            body[field] = value
                            try await run.probe(operation, uri, json: body, expect: 422, field: rules["enum"] != nil ? field : named, "\(field) \(why)")
                        }
                        // Every value of a documented enum is accepted.
                        for value in rules["enum"]?.openAPIArray ?? [] {
                            body = makeBody(run.token())
                            body[field] = value
                            try await run.probe(operation, try await successPath(operation), json: body, expect: success, "\(field)=\(value.canonicalText)")
                        }
                    }
                    for field in Self.referenceFields[operation.key] ?? [] {
                        var body = makeBody(run.token())
                        body[field] = .string("no-such-id")
                        try await run.probe(operation, uri, json: body, expect: 422, field: field, "\(field) naming no row")
                    }
                    if let conflict = conflictBodies[operation.key] {
                        try await run.probe(operation, uri, json: conflict, expect: 409, "a taken unique value")
                    }
                    try await run.probe(operation, uri, raw: #"{"name": "#, expect: 400, "malformed JSON")
                    try await run.probe(operation, uri, raw: "[1]", expect: 400, "not an object")
                    if Self.optionalBodies.contains(operation.key) {
                        try await run.probe(operation, uri, raw: nil, expect: success, "no body (it is optional)")
                    } else {
                        try await run.probe(operation, uri, raw: nil, expect: 400, "no body")
                    }
                    let big = #"{"name":""# + String(repeating: "x", count: 1024 * 1024 + 16) + #""}"#
                    try await run.probe(operation, uri, raw: big, expect: 413, "a body over 1 MiB")
                    if path.contains("{id}") {
                        let answer = Self.unknownPathIdAnswers[operation.key] ?? (404, nil)
                        try await run.probe(operation, unknown, json: makeBody(run.token()), expect: answer.status, field: answer.field, "an unknown id")
                    }
                } else if operation.method == "DELETE" {
                    let doomed = concrete(path, key: operation.key, deleting: true)
                    let first = try await run.probe(operation, doomed, expect: success, "an existing row")
                    if Self.repeatableDeletes.contains(operation.key) {
                        let again = try await run.probe(operation, doomed, expect: success, "the same row again")
                        #expect(again == first, "\(operation.key): repeating it should change nothing")
                        try await run.probe(operation, unknown, expect: 404, "an unknown id")
                    } else {
                        try await run.probe(operation, doomed, expect: 404, "the same row again")
                    }
                } else {
                    if !streaming {
                        let first = try await run.probe(operation, uri, query: requiredQuery, expect: success, "the documented success")
                        if let items = first?.openAPIObject?["items"]?.openAPIArray {
                            #expect(!items.isEmpty, "\(operation.key): the fixtures should make this list non-empty")
                        }
                    }
                    if path.contains("{id}") {
                        try await run.probe(operation, unknown, query: requiredQuery, expect: 404, "an unknown id")
                    }
                }

                // Each path parameter but the id is read: an integer one refuses other text, and a value
                // that names nothing answers 404.
                for parameter in document.parameters(operation) where parameter["in"]?.openAPIString == "path" {
                    let name = try #require(parameter["name"]?.openAPIString)
                    guard name != "id" else { continue }
                    let schema = document.resolve(parameter["schema"] ?? .object([:])).openAPIObject ?? [:]
                    if schema["type"]?.openAPIString == "integer" {
                        try await run.probe(operation, concrete(path, key: operation.key, [name: "abc"]), query: requiredQuery, expect: 422, field: name, "\(name) not an integer")
                    }
                    try await run.probe(operation, concrete(path, key: operation.key, [name: "99999"]), query: requiredQuery, expect: 404, "\(name) naming nothing")
                }

                // Each documented query parameter is read by the server.
                for parameter in queryParameters {
                    let name = try #require(parameter["name"]?.openAPIString)
                    let jsonContent = parameter["content"]?.openAPIObject?["application/json"]?.openAPIObject
                    let schema = document.resolve(parameter["schema"] ?? jsonContent?["schema"] ?? .object([:])).openAPIObject ?? [:]
                    let isRequired = parameter["required"] == .bool(true)
                    func with(_ value: String) -> [String: String] { requiredQuery.merging([name: value]) { $1 } }
                    func items(_ json: JSONValue?) -> [JSONValue]? { json?.openAPIObject?["items"]?.openAPIArray }
                    if isRequired {
                        var query = requiredQuery
                        query[name] = nil
                        try await run.probe(operation, uri, query: query, expect: 422, field: name, "without \(name)")
                    }
                    if schema["type"]?.openAPIString == "integer" {
                        try await run.probe(operation, uri, query: with("abc"), expect: 422, field: name, "\(name) not an integer")
                        if case .integer(let minimum) = schema["minimum"] {
                            try await run.probe(operation, uri, query: with("\(minimum - 1)"), expect: 422, field: name, "\(name) below the minimum")
                        }
                        if case .integer(let maximum) = schema["maximum"] {
                            try await run.probe(operation, uri, query: with("\(maximum + 1)"), expect: 422, field: name, "\(name) above the maximum")
                        }
                    } else if let values = schema["enum"]?.openAPIArray?.compactMap(\.openAPIString) {
                        try await run.probe(operation, uri, query: with("no-such-value"), expect: 422, field: name, "\(name) not one of the values")
                        for value in values where !streaming {
                            try await run.probe(operation, uri, query: with(value), expect: success, "\(name)=\(value)")
                        }
                    } else if name == "cursor" {
                        try await run.probe(operation, uri, query: with("zzz"), expect: 422, field: name, "a cursor the server did not issue")
                        // limit=1 leaves more rows: next_cursor is a string, and passing it back is accepted.
                        let page = try await run.probe(operation, uri, query: requiredQuery.merging(["limit": "1"]) { $1 }, expect: success, "limit=1")
                        let cursor = try #require(page?.openAPIObject?["next_cursor"]?.openAPIString, "\(operation.key): limit=1 should leave a next_cursor")
                        let next = try await run.probe(operation, uri, query: requiredQuery.merging(["limit": "1", "cursor": cursor]) { $1 }, expect: success, "the next page")
                        #expect(next?.openAPIObject?["items"] != page?.openAPIObject?["items"], "\(operation.key): the cursor should move to another page")
                    } else if isRequired || streaming {
                        continue
                    } else if schema["type"]?.openAPIString == "boolean" {
                        // A flag: both values are accepted, and the fixtures make them answer differently.
                        let on = try await run.probe(operation, uri, query: with("true"), expect: success, "\(name)=true")
                        let off = try await run.probe(operation, uri, query: with("false"), expect: success, "\(name)=false")
                        #expect(items(on) != items(off), "\(operation.key): \(name) is not applied")
                    } else if schema["format"]?.openAPIString == "date-time" {
                        // An instant: other text is refused; of a long-past and a far-future instant, one
                        // keeps every fixture and the other none (which depends on the direction).
                        try await run.probe(operation, uri, query: with("yesterday"), expect: 422, field: name, "\(name) not a date-time")
                        let past = try await run.probe(operation, uri, query: with("2000-01-01T02:00:00.000+02:00"), expect: success, "\(name) long past, with an offset")
                        let future = try await run.probe(operation, uri, query: with("2999-12-31T23:59:59Z"), expect: success, "\(name) far in the future")
                        #expect(Set([items(past)?.isEmpty, items(future)?.isEmpty]) == [true, false], "\(operation.key): \(name) is not applied")
                    } else if jsonContent != nil {
                        // A JSON object: refused when it is not one or breaks the documented shape; an unused
                        // key matches nothing, and the fixtures' metadata matches them.
                        let invalid = [("not json", "not JSON"), ("[1]", "not an object"), (#"{"channel":{"nested":1}}"#, "with a nested value"),
                                       (#"{"bad key!":1}"#, "with a key of other characters")]
                        for (value, why) in invalid {
                            try await run.probe(operation, uri, query: with(value), expect: 422, field: name, "\(name) \(why)")
                        }
                        let none = try await run.probe(operation, uri, query: with(#"{"no_such_key":"x"}"#), expect: success, "\(name) matching nothing")
                        #expect(items(none) == [], "\(operation.key): \(name) is not applied")
                        let value = try #require(queryValues[name], "no test value for \(name)")
                        let some = try await run.probe(operation, uri, query: with(value), expect: success, "\(name) matching rows")
                        #expect(items(some)?.isEmpty == false, "\(operation.key): \(name)=\(value) should match the fixtures")
                    } else {
                        // A filter: an unknown value leaves nothing, the fixture's id leaves its rows.
                        let none = try await run.probe(operation, uri, query: with("no-such-id"), expect: success, "\(name) matching nothing")
                        #expect(items(none) == [], "\(operation.key): \(name) is not applied")
                        let value = try #require(queryValues[name], "no test value for \(name)")
                        let some = try await run.probe(operation, uri, query: with(value), expect: success, "\(name) matching rows")
                        #expect(items(some)?.isEmpty == false, "\(operation.key): \(name)=\(value) should match the fixtures")
                    }
                }

                // Documented answers the generic checks above do not reach.
                switch operation.key {
                case "POST /api/runs/claim":
                    // With every claimable run taken, a claim answers 204 without a body.
                    while try await store.runs.claim(workerId: "drain", leaseSeconds: 3600) != nil {}
                    try await run.probe(operation, uri, json: fullBodies[operation.key]!(run.token()), expect: 204, "nothing left to claim")
                case "POST /api/runs/{id}/finish":
                    for status in ["pending", "running"] {
                        try await run.probe(operation, uri, json: ["status": .string(status)], expect: 422, field: "status", "status \(status)")
                    }
                case "POST /api/runs":
                    try await run.probe(operation, uri, json: ["workflow_id": .string(unpublished.id)], expect: 422, field: "version", "a workflow without versions")
                    try await run.probe(operation, uri, json: ["workflow_id": .string(workflow.id), "version": .integer(2)], expect: 422, field: "version", "an unpublished version")
                case "POST /api/workflows/{id}/versions":
                    try await run.probe(operation, concrete(path, ["id": archived.id]), json: [:], expect: 404, "an archived workflow")
                case "GET /api/workflows/{id}/checkpoints/best":
                    try await run.probe(operation, concrete(path, ["id": unpublished.id]), expect: 404, "a workflow without a best checkpoint")
                case "POST /api/checkpoints/{id}/best":
                    let best = try await client.execute(uri: "/api/workflows/\(workflow.id)/checkpoints/best", method: .get).json(JSONValue.self)
                    #expect(best.openAPIObject?["id"] == .string(checkpoint.id), "the marked checkpoint should be the workflow's only best")
                case "POST /api/agents/{id}/update":
                    // An agent that was never deployed has no database to update.
                    let early = try await run.probe(operation, concrete(path, ["id": otherAgent.id]), expect: 409, "an agent never deployed")
                    #expect(early?.openAPIObject?["type"] == .string("/problems/agent-not-deployed"))
                case "GET /api/search":
                    try await run.probe(operation, uri, query: ["q": "the and of"], expect: 422, field: "q", "only stop words")
                case "DELETE /api/tokens/{id}":
                    let revoked = try await run.probe(operation, "/api/tokens/ci", expect: success, "a token's name")
                    #expect(revoked?.openAPIObject?["revoked_at"] != nil, "a revoked token has revoked_at")
                default:
                    break
                }

                // Every documented status was seen, except those only a failing database or authentication produces.
                var expected = statuses.subtracting(Self.unprovokedStatuses).subtracting(Self.authenticationStatuses)
                if streaming { expected.remove(success) }
                let seen = run.observed[operation.key] ?? []
                #expect(expected.subtracting(seen).sorted() == [], "\(operation.key): documented statuses never answered")
            }

            // Methods the document does not list for a path answer exactly like a path that does not
            // exist, unless another documented route matches (GET /api/runs/claim is GET /api/runs/{id}).
            let unrouted = try await client.execute(uri: "/no-such-route", method: .get)
            #expect(unrouted.status == .notFound)
            let unroutedBody = try unrouted.json(JSONValue.self)
            for (path, methods) in document.pathMethods {
                let uri = concrete(path)
                for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] where !methods.contains(method) {
                    if document.operations.contains(where: { $0.method == method && OpenAPIDocument.template($0.path, matches: uri) }) { continue }
                    let response = try await client.execute(
                        uri: uri, method: HTTPRequest.Method(method)!, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")
                    )
                    #expect(response.status == .notFound, "\(method) \(path) is not documented but answers \(response.status.code)")
                    #expect(try response.json(JSONValue.self) == unroutedBody, "\(method) \(path) is not documented but has a handler")
                }
            }
        }
    }

    /// With authentication on, each operation needs a token of at least its documented role: none
    /// answers 401, a token below the role 403, and a token of the role or above gets past the check.
    /// Unknown ids and empty bodies keep every request from changing anything.
    @Test(.timeLimit(.minutes(5)), arguments: TestBackend.allCases)
    func documentedRolesAreEnforced(_ backend: TestBackend) async throws {
        let document = try OpenAPIDocument.load()
        try await TestSupport.withStore(backend) { store in
            var made: [TokenScope: String] = [:]
            for scope in TokenScope.allCases { made[scope] = try await store.tokens.create(name: "role \(scope.rawValue)", scope: scope).secret }
            let secrets = made
            let app = Application(router: buildRouter(store: store, authRequired: true), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                var run = OpenAPIConformance(document: document, client: client)
                for operation in document.operations {
                    let uri = operation.path.replacingOccurrences(of: "{id}", with: "no-such-id").replacingOccurrences(of: "{version}", with: "1")
                    let body: String? = document.requestSchema(operation) == nil ? nil : "{}"
                    let roles = operation.object["security"]?.openAPIArray?.first?.openAPIObject?["bearerAuth"]?.openAPIArray
                    guard let role = roles?.first?.openAPIString.flatMap(TokenScope.init(rawValue:)) else {
                        // Open: the documented success without a token.
                        try await run.probe(operation, uri, raw: body, expect: try #require(document.success(operation)), "no token on an open route")
                        continue
                    }
                    try await run.probe(operation, uri, raw: body, expect: 401, "no token")
                    try await run.probe(operation, uri, raw: body, headers: [.authorization: "Bearer dvt_not_a_token"], expect: 401, "a malformed token")
                    for scope in TokenScope.allCases {
                        let headers: HTTPFields = [.authorization: "Bearer \(secrets[scope]!)"]
                        if scope < role {
                            try await run.probe(operation, uri, raw: body, headers: headers, expect: 403, "a \(scope.rawValue) token")
                        } else {
                            var sent = headers
                            if body != nil { sent[.contentType] = "application/json" }
                            let response = try await client.execute(
                                uri: uri, method: HTTPRequest.Method(operation.method)!, headers: sent, body: body.map { ByteBuffer(string: $0) }
                            )
                            let code = Int(response.status.code)
                            #expect(!Self.authenticationStatuses.contains(code), "\(operation.key) with a \(scope.rawValue) token answered \(code)")
                            #expect(document.response(operation, code) != nil, "\(operation.key) with a \(scope.rawValue) token answered undocumented \(code)")
                        }
                    }
                    let documented = document.statuses(operation).intersection(Self.authenticationStatuses)
                    #expect(documented.subtracting(run.observed[operation.key] ?? []).sorted() == [], "\(operation.key): documented statuses never answered")
                }
            }
        }
    }

    /// The stream's 200 over a real socket (a test client waits for a body to end, and a stream never ends).
    @Test(.timeLimit(.minutes(5)), arguments: TestBackend.allCases)
    func eventStreamAnswersAsDocumented(_ backend: TestBackend) async throws {
        let document = try OpenAPIDocument.load()
        let operation = try #require(document.operations.first { $0.key == "GET /api/sessions/{id}/events/stream" })
        let ok = try #require(document.response(operation, 200))
        let media = try #require(ok["content"]?.openAPIObject?["text/event-stream"]?.openAPIObject)
        let dataSchema = try #require(media["x-sse-data-schema"], "the stream documents the schema of its data lines")
        try await TestSupport.withClient(backend, live: true) { client, store in
            let port = try #require(client.port)
            let project = try await store.projects.create(NewProject(name: "Stream"))
            let session = try await store.sessions.create(NewSession(projectId: project.id))
            for index in 1...2 {
                _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "step", payload: .object(["i": .integer(Int64(index))])))
            }
            let head = try await OpenAPIStreamHead.read(port: port, path: "/api/sessions/\(session.id)/events/stream?after=1")
            #expect(head.status == 200)
            let mediaType = head.headers["content-type"]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(mediaType == "text/event-stream")
            for (name, header) in ok["headers"]?.openAPIObject ?? [:] {
                if let value = document.resolve(header).openAPIObject?["schema"]?.openAPIObject?["const"]?.openAPIString {
                    #expect(head.headers[name.lowercased()] == value, "header \(name)")
                }
            }
            #expect(head.event["id"] == "2")
            #expect(head.event["event"] == "step")
            let data = try JSONDecoder().decode(JSONValue.self, from: Data((head.event["data"] ?? "").utf8))
            let problems = document.violations(data, dataSchema, at: "data")
            #expect(problems.isEmpty, "\(problems)")
        }
    }
}

// MARK: - The document

/// `openapi.json`, parsed into `JSONValue`s, with the lookups the checks need and a small
/// validator for the subset of JSON Schema the document uses.
struct OpenAPIDocument: Sendable {
    static let url = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // DovetailAPITests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the repository
        .appendingPathComponent("openapi.json")

    struct Operation: Sendable {
        var method: String
        var path: String
        var object: [String: JSONValue]
        var key: String { "\(method) \(path)" }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    let root: [String: JSONValue]
    let operations: [Operation]

    static func load() throws -> OpenAPIDocument {
        let data = try Data(contentsOf: url)
        guard case .object(let root) = try JSONDecoder().decode(JSONValue.self, from: data) else {
            throw Failure(description: "\(url.path) is not a JSON object")
        }
        var operations: [Operation] = []
        for (path, item) in root["paths"]?.openAPIObject ?? [:] {
            for (method, operation) in item.openAPIObject ?? [:] where methods.contains(method) {
                guard let object = operation.openAPIObject else { throw Failure(description: "\(method) \(path) is not an object") }
                operations.append(Operation(method: method.uppercased(), path: path, object: object))
            }
        }
        return OpenAPIDocument(root: root, operations: operations.sorted { $0.key < $1.key })
    }

    var pathMethods: [String: Set<String>] {
        Dictionary(grouping: operations, by: \.path).mapValues { Set($0.map(\.method)) }
    }

    /// The value a local `$ref` (`#/components/...`) points at.
    func lookup(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#/") else { return nil }
        var node = JSONValue.object(root)
        for part in reference.dropFirst(2).split(separator: "/") {
            let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            guard let next = node.openAPIObject?[key] else { return nil }
            node = next
        }
        return node
    }

    /// `value` with `$ref`s followed until it is not a reference.
    func resolve(_ value: JSONValue) -> JSONValue {
        var value = value
        var hops = 0
        while let reference = value.openAPIObject?["$ref"]?.openAPIString, let target = lookup(reference), hops < 20 {
            value = target
            hops += 1
        }
        return value
    }

    func statuses(_ operation: Operation) -> Set<Int> {
        Set((operation.object["responses"]?.openAPIObject ?? [:]).keys.compactMap { Int($0) })
    }

    /// The operation's main success: its lowest 2xx (`POST /api/runs/claim` also documents 204).
    func success(_ operation: Operation) -> Int? {
        statuses(operation).filter { (200..<300).contains($0) }.min()
    }

    /// Whether a concrete path fits a path template such as `/api/runs/{id}`.
    static func template(_ template: String, matches path: String) -> Bool {
        let templateParts = template.split(separator: "/")
        let pathParts = path.split(separator: "/")
        return templateParts.count == pathParts.count && zip(templateParts, pathParts).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
    }

    func response(_ operation: Operation, _ status: Int) -> [String: JSONValue]? {
        operation.object["responses"]?.openAPIObject?[String(status)].flatMap { resolve($0).openAPIObject }
    }

    func parameters(_ operation: Operation) -> [[String: JSONValue]] {
        (operation.object["parameters"]?.openAPIArray ?? []).compactMap { resolve($0).openAPIObject }
    }

    func requestSchema(_ operation: Operation) -> [String: JSONValue]? {
        guard let body = operation.object["requestBody"].map(resolve)?.openAPIObject,
              let schema = body["content"]?.openAPIObject?["application/json"]?.openAPIObject?["schema"]
        else { return nil }
        return resolve(schema).openAPIObject
    }

    /// A JSON value that `schema` does not allow, of another type entirely.
    func wrongValue(for schema: JSONValue) -> JSONValue {
        let types = Self.types(of: resolve(schema).openAPIObject ?? [:])
        if types.contains("string") { return .integer(12345) }
        if types.contains("integer") || types.contains("number") { return .string("not a number") }
        if types.contains("boolean") { return .string("yes") }
        return .integer(42)  // object or array
    }

    static func types(of schema: [String: JSONValue]) -> [String] {
        switch schema["type"] {
        case .string(let type): [type]
        case .array(let types): types.compactMap(\.openAPIString)
        default: []
        }
    }

    /// What in `value` breaks `schema`: types, enums, constants, date-times, patterns, minimums,
    /// required properties and, where `additionalProperties` is false, properties the schema does not name.
    func violations(_ value: JSONValue, _ schema: JSONValue, at location: String) -> [String] {
        guard let schema = resolve(schema).openAPIObject else { return ["\(location): the schema is not an object"] }
        let types = Self.types(of: schema)
        if !types.isEmpty && !types.contains(where: { Self.value(value, is: $0) }) {
            return ["\(location): expected \(types.joined(separator: " or ")), got \(value.canonicalText.prefix(80))"]
        }
        var found: [String] = []
        if let allowed = schema["enum"]?.openAPIArray, !allowed.contains(value) {
            found.append("\(location): \(value.canonicalText) is not one of \(JSONValue.array(allowed).canonicalText)")
        }
        if let constant = schema["const"], constant != value {
            found.append("\(location): \(value.canonicalText) is not \(constant.canonicalText)")
        }
        if case .string(let text) = value {
            if schema["format"]?.openAPIString == "date-time", Timestamp(iso8601: text) == nil {
                found.append("\(location): \(text) is not a date-time")
            }
            if let pattern = schema["pattern"]?.openAPIString, let regex = try? Regex(pattern), text.firstMatch(of: regex) == nil {
                found.append("\(location): \(text) does not match \(pattern)")
            }
        }
        if case .integer(let number) = value, case .integer(let minimum) = schema["minimum"], number < minimum {
            found.append("\(location): \(number) is below \(minimum)")
        }
        if case .object(let members) = value {
            let properties = schema["properties"]?.openAPIObject ?? [:]
            for name in schema["required"]?.openAPIArray?.compactMap(\.openAPIString) ?? [] where members[name] == nil {
                found.append("\(location): required property \(name) is missing")
            }
            if schema["additionalProperties"] == .bool(false) {
                for name in members.keys.sorted() where properties[name] == nil {
                    found.append("\(location): property \(name) is not documented")
                }
            }
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[name] { found += violations(member, propertySchema, at: "\(location).\(name)") }
            }
        }
        if case .array(let items) = value, let itemSchema = schema["items"] {
            for (index, item) in items.enumerated() { found += violations(item, itemSchema, at: "\(location)[\(index)]") }
        }
        return found
    }

    static func value(_ value: JSONValue, is type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("integer", .integer), ("number", .integer), ("number", .number),
             ("string", .string), ("array", .array), ("object", .object):
            true
        default:
            false
        }
    }
}

// MARK: - Calling the server

/// Sends requests for documented operations, checks each answer against the document and
/// remembers which statuses each operation answered.
struct OpenAPIConformance {
    let document: OpenAPIDocument
    let client: any TestClientProtocol
    var observed: [String: Set<Int>] = [:]
    private var counter = 0

    init(document: OpenAPIDocument, client: any TestClientProtocol) {
        self.document = document
        self.client = client
    }

    /// A fresh suffix for names and slugs that must be unique.
    mutating func token() -> String {
        counter += 1
        return "t\(counter)"
    }

    @discardableResult
    mutating func probe(
        _ operation: OpenAPIDocument.Operation, _ path: String, query: [String: String] = [:], json: [String: JSONValue],
        headers: HTTPFields = [:], expect status: Int, field: String? = nil, _ why: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue? {
        let data = try JSONEncoder().encode(JSONValue.object(json))
        return try await probe(
            operation, path, query: query, raw: String(decoding: data, as: UTF8.self), headers: headers, expect: status, field: field, why,
            sourceLocation: sourceLocation
        )
    }

    /// Query values percent-encoded, so JSON and `+hh:mm` offsets arrive as sent.
    static func percentEncoded(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? value
    }

    /// Sends one request and checks the answer: the expected status, which the document lists for
    /// the operation; a documented media type; a body that fits the documented schema; for
    /// problems, `type`, `title`, `status` (equal to the HTTP status), `detail` and the field named.
    /// Returns the JSON body, if any.
    @discardableResult
    mutating func probe(
        _ operation: OpenAPIDocument.Operation, _ path: String, query: [String: String] = [:], raw body: String? = nil,
        headers: HTTPFields = [:], expect status: Int, field: String? = nil, _ why: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue? {
        let pairs = query.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.percentEncoded($0.value))" }
        let uri = query.isEmpty ? path : path + "?" + pairs.joined(separator: "&")
        var sent = headers
        if body != nil { sent[.contentType] = "application/json" }
        let response = try await client.execute(
            uri: uri, method: HTTPRequest.Method(operation.method)!, headers: sent, body: body.map { ByteBuffer(string: $0) }
        )
        let code = Int(response.status.code)
        let label = "\(operation.key) with \(why) (\(operation.method) \(uri.prefix(200)))"
        observed[operation.key, default: []].insert(code)
        #expect(code == status, "\(label): answered \(code), expected \(status): \(String(buffer: response.body).prefix(300))", sourceLocation: sourceLocation)
        guard let documented = document.response(operation, code) else {
            Issue.record("\(label): status \(code) is not documented", sourceLocation: sourceLocation)
            return nil
        }
        guard let content = documented["content"]?.openAPIObject else {
            #expect(response.body.readableBytes == 0, "\(label): documented without a body, but has one", sourceLocation: sourceLocation)
            return nil
        }
        let contentType = response.headers[.contentType] ?? ""
        let mediaType = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard let media = content[mediaType]?.openAPIObject else {
            Issue.record("\(label): Content-Type \(contentType) is not documented (\(content.keys.sorted()))", sourceLocation: sourceLocation)
            return nil
        }
        guard mediaType.hasSuffix("json") else {
            #expect(response.body.readableBytes > 0, "\(label): empty \(mediaType) body", sourceLocation: sourceLocation)
            return nil
        }
        let json = try response.json(JSONValue.self)
        let problems = document.violations(json, media["schema"] ?? .object([:]), at: "body")
        #expect(problems.isEmpty, "\(label): \(problems.joined(separator: "; "))", sourceLocation: sourceLocation)
        if mediaType == "application/problem+json" {
            let members = json.openAPIObject ?? [:]
            for name in ["type", "title", "detail"] {
                #expect(members[name]?.openAPIString?.isEmpty == false, "\(label): problem without \(name)", sourceLocation: sourceLocation)
            }
            #expect(members["status"] == .integer(Int64(code)), "\(label): problem status differs from the HTTP status", sourceLocation: sourceLocation)
            if let field {
                #expect(members["field"] == .string(field), "\(label): problem should name field \(field): \(json.canonicalText)", sourceLocation: sourceLocation)
            }
        }
        return json
    }
}

// MARK: - The start of an event stream over a raw socket

enum OpenAPIStreamHead {
    struct Result: Sendable {
        var status: Int
        /// Header names in lower case.
        var headers: [String: String]
        /// The first event's fields (`id`, `event`, `data`).
        var event: [String: String]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Reads the status, the headers and the first complete event of an SSE response.
    static func read(port: Int, path: String, timeout: Duration = .seconds(30)) async throws -> Result {
        let channel = try await RawSocket.connect(port: port)
        return try await withThrowingTaskGroup(of: Result.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"))
                    var received = ""
                    for try await chunk in inbound {
                        received += String(buffer: chunk)
                        // "\r\n" is one Character in Swift; normalise so lines split on "\n".
                        let text = received.replacingOccurrences(of: "\r\n", with: "\n")
                        guard let headEnd = text.range(of: "\n\n") else { continue }
                        let headLines = text[..<headEnd.lowerBound].split(separator: "\n")
                        guard let statusLine = headLines.first, let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else {
                            throw Failure(description: "no status line in \(text.prefix(200))")
                        }
                        var headers: [String: String] = [:]
                        for line in headLines.dropFirst() {
                            guard let colon = line.firstIndex(of: ":") else { continue }
                            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                        }
                        // The last piece may be an unfinished line; chunk-size lines of the chunked encoding are skipped.
                        var event: [String: String] = [:]
                        for line in text[headEnd.upperBound...].split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
                            if line.isEmpty {
                                if event["data"] != nil { return Result(status: status, headers: headers, event: event) }
                                event = [:]
                            } else if let colon = line.firstIndex(of: ":"), ["id", "event", "data"].contains(String(line[..<colon])) {
                                event[String(line[..<colon])] = String(line[line.index(after: colon)...].dropFirst())
                            }
                        }
                    }
                    throw Failure(description: "the stream ended before its first event")
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Failure(description: "no event within \(timeout)")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}

// MARK: - JSONValue access (names chosen not to collide with other test files)

extension JSONValue {
    fileprivate var openAPIObject: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    fileprivate var openAPIArray: [JSONValue]? {
        if case .array(let items) = self { return items }
        return nil
    }

    fileprivate var openAPIString: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
