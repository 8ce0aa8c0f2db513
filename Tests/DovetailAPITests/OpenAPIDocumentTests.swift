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
/// document lists exactly the routes the router registers.
@Suite("OpenAPI document matches the server")
struct OpenAPIDocumentTests {
    /// Every route the router registers, read from `buildRouter` and the controllers in
    /// `Sources/DovetailAPI`. Adding a route means adding it here and to `openapi.json`.
    static let registeredRoutes: Set<String> = [
        // HealthController, MetricsController
        "GET /health",
        "GET /metrics",
        // ProjectsController
        "POST /api/projects", "GET /api/projects",
        "GET /api/projects/{id}", "PATCH /api/projects/{id}", "DELETE /api/projects/{id}",
        // AgentsController
        "POST /api/agents", "GET /api/agents",
        "GET /api/agents/{id}", "PATCH /api/agents/{id}", "DELETE /api/agents/{id}",
        // TasksController
        "POST /api/tasks", "GET /api/tasks",
        "GET /api/tasks/{id}", "PATCH /api/tasks/{id}", "DELETE /api/tasks/{id}", "POST /api/tasks/{id}/move",
        // SessionsController
        "POST /api/sessions", "GET /api/sessions",
        "GET /api/sessions/{id}", "PATCH /api/sessions/{id}", "DELETE /api/sessions/{id}",
        "POST /api/sessions/{id}/messages", "GET /api/sessions/{id}/messages",
        "POST /api/sessions/{id}/events", "GET /api/sessions/{id}/events",
        "GET /api/sessions/{id}/events/stream",
    ]

    /// Statuses that are documented but that these tests cannot provoke on a healthy database.
    static let unprovokedStatuses: Set<Int> = [503]

    @Test
    func documentListsExactlyTheRegisteredRoutes() throws {
        let document = try OpenAPIDocument.load()
        #expect(document.root["openapi"]?.openAPIString?.hasPrefix("3.1") == true)
        let documented = Set(document.operations.map(\.key))
        #expect(documented.count == document.operations.count, "an operation is documented twice")
        #expect(documented.subtracting(Self.registeredRoutes).sorted() == [], "documented but not registered")
        #expect(Self.registeredRoutes.subtracting(documented).sorted() == [], "registered but not documented")
        for operation in document.operations {
            let successes = document.statuses(operation).filter { (200..<300).contains($0) }
            #expect(successes.count == 1, "\(operation.key) documents \(successes.sorted()) as success")
            #expect(operation.object["responses"]?.openAPIObject?["default"] != nil, "\(operation.key) has no default (500) response")
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
            let project = try await store.projects.create(NewProject(name: "Conformance"))
            let otherProject = try await store.projects.create(NewProject(name: "Other project"))
            let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "coder", kind: "llm"))
            let otherAgent = try await store.agents.create(NewAgent(projectId: project.id, name: "reviewer"))
            let task = try await store.tasks.create(NewTask(projectId: project.id, title: "card", column: .todo, assignedAgentId: agent.id))
            _ = try await store.tasks.create(NewTask(projectId: project.id, title: "second card", column: .todo))
            let session = try await store.sessions.create(NewSession(projectId: project.id, agentId: agent.id, userId: "u-1", title: "chat"))
            _ = try await store.sessions.create(NewSession(projectId: otherProject.id))
            for text in ["one", "two"] { _ = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: text)) }
            for index in 1...2 {
                _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "step", payload: .object(["i": .integer(Int64(index))])))
            }
            let doomedProject = try await store.projects.create(NewProject(name: "Doomed"))
            let doomedAgent = try await store.agents.create(NewAgent(projectId: project.id, name: "doomed"))
            let doomedTask = try await store.tasks.create(NewTask(projectId: project.id, title: "doomed"))
            let doomedSession = try await store.sessions.create(NewSession(projectId: project.id))

            func id(for path: String, deleting: Bool) -> String {
                if path.hasPrefix("/api/projects/") { return deleting ? doomedProject.id : project.id }
                if path.hasPrefix("/api/agents/") { return deleting ? doomedAgent.id : agent.id }
                if path.hasPrefix("/api/tasks/") { return deleting ? doomedTask.id : task.id }
                return deleting ? doomedSession.id : session.id
            }
            /// Values for required query parameters, and real values for optional filters.
            let queryValues = ["project_id": project.id, "agent_id": agent.id]

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
            ]
            /// Bodies that break a uniqueness rule, for every operation that documents 409.
            let conflictBodies: [String: [String: JSONValue]] = [
                "POST /api/projects": ["name": .string("Clash"), "slug": .string(otherProject.slug)],
                "PATCH /api/projects/{id}": ["slug": .string(otherProject.slug)],
                "POST /api/agents": ["project_id": .string(project.id), "name": .string(otherAgent.name)],
                "PATCH /api/agents/{id}": ["name": .string(otherAgent.name)],
            ]

            for operation in document.operations {
                let path = operation.path
                let uri = path.replacingOccurrences(of: "{id}", with: id(for: path, deleting: false))
                let statuses = document.statuses(operation)
                let success = try #require(statuses.first { (200..<300).contains($0) }, "\(operation.key) has no 2xx")
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
                    let properties = Set((schema["properties"]?.openAPIObject ?? [:]).keys)
                    let required = schema["required"]?.openAPIArray?.compactMap(\.openAPIString) ?? []
                    let full = makeBody(run.token())
                    #expect(Set(full.keys) == properties, "\(operation.key): the test body should use every documented field")
                    #expect(document.violations(.object(full), .object(schema), at: "request").isEmpty)
                    try await run.probe(operation, uri, json: full, expect: success, "every documented field")
                    let minimal = makeBody(run.token()).filter { required.contains($0.key) }
                    try await run.probe(operation, uri, json: minimal, expect: success, "only the required fields")

                    // Each required field is required, and each documented field is read: a value of the
                    // wrong type is refused naming it (a misspelt name would be ignored and answer 2xx).
                    for field in required {
                        var body = makeBody(run.token())
                        body[field] = nil
                        try await run.probe(operation, uri, json: body, expect: 422, field: field, "without \(field)")
                    }
                    for (field, fieldSchema) in schema["properties"]?.openAPIObject ?? [:] {
                        var body = makeBody(run.token())
                        body[field] = document.wrongValue(for: fieldSchema)
                        try await run.probe(operation, uri, json: body, expect: 422, field: field, "\(field) of the wrong type")
                    }
                    if let conflict = conflictBodies[operation.key] {
                        try await run.probe(operation, uri, json: conflict, expect: 409, "a taken unique value")
                    }
                    try await run.probe(operation, uri, raw: #"{"name": "#, expect: 400, "malformed JSON")
                    try await run.probe(operation, uri, raw: "[1]", expect: 400, "not an object")
                    try await run.probe(operation, uri, raw: nil, expect: 400, "no body")
                    let big = #"{"name":""# + String(repeating: "x", count: 1024 * 1024 + 16) + #""}"#
                    try await run.probe(operation, uri, raw: big, expect: 413, "a body over 1 MiB")
                    if path.contains("{id}") {
                        let missing = path.replacingOccurrences(of: "{id}", with: "no-such-id")
                        try await run.probe(operation, missing, json: makeBody(run.token()), expect: 404, "an unknown id")
                    }
                } else if operation.method == "DELETE" {
                    let doomed = path.replacingOccurrences(of: "{id}", with: id(for: path, deleting: true))
                    try await run.probe(operation, doomed, expect: success, "an existing row")
                    try await run.probe(operation, doomed, expect: 404, "the same row again")
                } else {
                    if !streaming {
                        let first = try await run.probe(operation, uri, query: requiredQuery, expect: success, "the documented success")
                        if let items = first?.openAPIObject?["items"]?.openAPIArray {
                            #expect(!items.isEmpty, "\(operation.key): the fixtures should make this list non-empty")
                        }
                    }
                    if path.contains("{id}") {
                        let missing = path.replacingOccurrences(of: "{id}", with: "no-such-id")
                        try await run.probe(operation, missing, query: requiredQuery, expect: 404, "an unknown id")
                    }
                }

                // Each documented query parameter is read by the server.
                for parameter in queryParameters {
                    let name = try #require(parameter["name"]?.openAPIString)
                    let schema = document.resolve(parameter["schema"] ?? .object([:])).openAPIObject ?? [:]
                    if parameter["required"] == .bool(true) {
                        var query = requiredQuery
                        query[name] = nil
                        try await run.probe(operation, uri, query: query, expect: 422, field: name, "without \(name)")
                    }
                    if schema["type"]?.openAPIString == "integer" {
                        try await run.probe(operation, uri, query: requiredQuery.merging([name: "abc"]) { $1 }, expect: 422, field: name, "\(name) not an integer")
                        if case .integer(let minimum) = schema["minimum"] {
                            try await run.probe(operation, uri, query: requiredQuery.merging([name: "\(minimum - 1)"]) { $1 }, expect: 422, field: name, "\(name) below the minimum")
                        }
                        if case .integer(let maximum) = schema["maximum"] {
                            try await run.probe(operation, uri, query: requiredQuery.merging([name: "\(maximum + 1)"]) { $1 }, expect: 422, field: name, "\(name) above the maximum")
                        }
                    } else if let values = schema["enum"]?.openAPIArray?.compactMap(\.openAPIString) {
                        try await run.probe(operation, uri, query: requiredQuery.merging([name: "no-such-value"]) { $1 }, expect: 422, field: name, "\(name) not one of the values")
                        for value in values where !streaming {
                            try await run.probe(operation, uri, query: requiredQuery.merging([name: value]) { $1 }, expect: success, "\(name)=\(value)")
                        }
                    } else if name == "cursor" {
                        try await run.probe(operation, uri, query: requiredQuery.merging([name: "zzz"]) { $1 }, expect: 422, field: name, "a cursor the server did not issue")
                        // limit=1 leaves more rows: next_cursor is a string, and passing it back is accepted.
                        let page = try await run.probe(operation, uri, query: requiredQuery.merging(["limit": "1"]) { $1 }, expect: success, "limit=1")
                        let cursor = try #require(page?.openAPIObject?["next_cursor"]?.openAPIString, "\(operation.key): limit=1 should leave a next_cursor")
                        let next = try await run.probe(operation, uri, query: requiredQuery.merging(["limit": "1", "cursor": cursor]) { $1 }, expect: success, "the next page")
                        #expect(next?.openAPIObject?["items"] != page?.openAPIObject?["items"], "\(operation.key): the cursor should move to another page")
                    } else if parameter["required"] != .bool(true), !streaming {
                        // A filter: an unknown value leaves nothing, the fixture's id leaves its rows.
                        let none = try await run.probe(operation, uri, query: requiredQuery.merging([name: "no-such-id"]) { $1 }, expect: success, "\(name) matching nothing")
                        #expect(none?.openAPIObject?["items"]?.openAPIArray == [], "\(operation.key): \(name) is not applied")
                        let value = try #require(queryValues[name], "no test value for \(name)")
                        let some = try await run.probe(operation, uri, query: requiredQuery.merging([name: value]) { $1 }, expect: success, "\(name) matching rows")
                        #expect(some?.openAPIObject?["items"]?.openAPIArray?.isEmpty == false, "\(operation.key): \(name)=\(value) should match the fixtures")
                    }
                }

                // Every documented status was seen, except those only a failing database produces.
                var expected = statuses.subtracting(Self.unprovokedStatuses)
                if streaming { expected.remove(success) }
                let seen = run.observed[operation.key] ?? []
                #expect(expected.subtracting(seen).sorted() == [], "\(operation.key): documented statuses never answered")
            }

            // Methods the document does not list for a path answer exactly like a path that does not exist.
            let unrouted = try await client.execute(uri: "/no-such-route", method: .get)
            #expect(unrouted.status == .notFound)
            let unroutedBody = try unrouted.json(JSONValue.self)
            for (path, methods) in document.pathMethods {
                let uri = path.replacingOccurrences(of: "{id}", with: id(for: path, deleting: false))
                for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] where !methods.contains(method) {
                    let response = try await client.execute(
                        uri: uri, method: HTTPRequest.Method(method)!, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")
                    )
                    #expect(response.status == .notFound, "\(method) \(path) is not documented but answers \(response.status.code)")
                    #expect(try response.json(JSONValue.self) == unroutedBody, "\(method) \(path) is not documented but has a handler")
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
        expect status: Int, field: String? = nil, _ why: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue? {
        let data = try JSONEncoder().encode(JSONValue.object(json))
        return try await probe(operation, path, query: query, raw: String(decoding: data, as: UTF8.self), expect: status, field: field, why, sourceLocation: sourceLocation)
    }

    /// Sends one request and checks the answer: the expected status, which the document lists for
    /// the operation; a documented media type; a body that fits the documented schema; for
    /// problems, `type`, `title`, `status` (equal to the HTTP status), `detail` and the field named.
    /// Returns the JSON body, if any.
    @discardableResult
    mutating func probe(
        _ operation: OpenAPIDocument.Operation, _ path: String, query: [String: String] = [:], raw body: String? = nil,
        expect status: Int, field: String? = nil, _ why: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue? {
        let uri = query.isEmpty ? path : path + "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        let response = try await client.execute(
            uri: uri, method: HTTPRequest.Method(operation.method)!,
            headers: body == nil ? [:] : [.contentType: "application/json"], body: body.map { ByteBuffer(string: $0) }
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
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
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
