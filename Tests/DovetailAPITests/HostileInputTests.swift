import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Inputs a hostile client sends (issue 17, items 3 and 8): NUL in ids, numbers beyond 64 bits, a
/// 100 KB URL. Each must be a 4xx problem+json naming what is wrong, on every backend — PostgreSQL
/// refuses NUL in text (SQLSTATE 22021), which used to surface as a 500.
@Suite("Hostile input, on every backend")
struct HostileInputTests {
    /// Ids of one of everything, so that a request can be valid except for the field under test.
    struct Fixture {
        var project: String
        var agent: String
        var workflow: String
        var run: String
        var session: String
        var task: String
        var checkpoint: String
    }

    static func fixture(_ client: any TestClientProtocol) async throws -> Fixture {
        func id(_ uri: String, _ json: String) async throws -> String {
            let response = try await client.send(uri, .post, json: json)
            #expect(response.status == .created, "\(uri): \(response.text)")
            return try response.json(Identified.self).id
        }
        let project = try await id("/api/projects", #"{"name":"Hostile"}"#)
        let agent = try await id("/api/agents", #"{"project_id":"\#(project)","name":"a1"}"#)
        let workflow = try await id("/api/workflows", #"{"project_id":"\#(project)","handle":"wf"}"#)
        _ = try await id("/api/workflows/\(workflow)/versions", #"{"definition":{}}"#)
        let run = try await id("/api/runs", #"{"workflow_id":"\#(workflow)"}"#)
        let session = try await id("/api/sessions", #"{"project_id":"\#(project)"}"#)
        let task = try await id("/api/tasks", #"{"project_id":"\#(project)","title":"t"}"#)
        let checkpoint = try await id("/api/workflows/\(workflow)/checkpoints", #"{"config_version":"v1"}"#)
        return Fixture(project: project, agent: agent, workflow: workflow, run: run, session: session, task: task, checkpoint: checkpoint)
    }

    /// A 4xx problem+json whose `status` matches the response; returns the problem for further checks.
    @discardableResult
    static func expectProblem(_ response: TestResponse, _ allowed: Set<Int>, _ what: String) throws -> ProblemBody? {
        #expect(allowed.contains(Int(response.status.code)), "\(what): got \(response.status.code) \(response.text)")
        #expect(response.headers[.contentType] == "application/problem+json", "\(what): content type \(response.headers[.contentType] ?? "none")")
        guard let problem = try? response.json(ProblemBody.self) else {
            Issue.record("\(what): body is not problem+json: \(response.text)")
            return nil
        }
        #expect(problem.status == Int(response.status.code), "\(what)")
        #expect(!problem.type.isEmpty && !problem.title.isEmpty && !problem.detail.isEmpty, "\(what)")
        return problem
    }

    static let nul = #"\u0000"#

    @Test(arguments: TestBackend.allCases)
    func nulInEveryIdFieldOfEveryBodyIsA422NamingTheField(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let f = try await Self.fixture(client)
            let nul = Self.nul
            // (method, uri, body, field at fault)
            let cases: [(HTTPRequest.Method, String, String, String)] = [
                (.post, "/api/agents", #"{"project_id":"\#(nul)","name":"x"}"#, "project_id"),
                (.post, "/api/agents", #"{"project_id":"p\#(nul)","name":"x"}"#, "project_id"),
                (.post, "/api/tasks", #"{"project_id":"\#(nul)","title":"x"}"#, "project_id"),
                (.post, "/api/tasks", #"{"project_id":"\#(f.project)","title":"x","assigned_agent_id":"\#(nul)"}"#, "assigned_agent_id"),
                (.patch, "/api/tasks/\(f.task)", #"{"assigned_agent_id":"\#(nul)"}"#, "assigned_agent_id"),
                (.post, "/api/sessions", #"{"project_id":"\#(nul)"}"#, "project_id"),
                (.post, "/api/sessions", #"{"project_id":"\#(f.project)","agent_id":"\#(nul)"}"#, "agent_id"),
                (.post, "/api/sessions", #"{"project_id":"\#(f.project)","user_id":"\#(nul)"}"#, "user_id"),
                (.post, "/api/workflows", #"{"project_id":"\#(nul)","handle":"h2"}"#, "project_id"),
                (.post, "/api/runs", #"{"workflow_id":"\#(nul)"}"#, "workflow_id"),
                (.post, "/api/runs/claim", #"{"worker_id":"\#(nul)","lease_seconds":30}"#, "worker_id"),
                (.post, "/api/runs/\(f.run)/lease", #"{"worker_id":"\#(nul)","lease_seconds":30}"#, "worker_id"),
                (.post, "/api/workflows/\(f.workflow)/checkpoints", #"{"config_version":"v2","run_id":"\#(nul)"}"#, "run_id"),
            ]
            for (method, uri, body, field) in cases {
                let response = try await client.send(uri, method, json: body)
                let problem = try Self.expectProblem(response, [422], "\(method) \(uri) \(body)")
                #expect(problem?.field == field, "\(method) \(uri) \(body): field \(problem?.field ?? "none")")
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func nulInEveryIdQueryFilterIsA422NamingTheFilter(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let f = try await Self.fixture(client)
            let nulCursor = Data("k:\u{0}".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
            let nulMetadata = #"{"k":"\u0000"}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let cases: [(String, String)] = [
                ("/api/agents?project_id=%00", "project_id"),
                ("/api/tasks?project_id=%00", "project_id"),
                ("/api/tasks?project_id=%00&column=todo", "project_id"),
                ("/api/sessions?project_id=%00", "project_id"),
                ("/api/sessions?project_id=\(f.project)&agent_id=%00", "agent_id"),
                ("/api/sessions?metadata=\(nulMetadata)", "metadata"),
                ("/api/workflows?project_id=%00", "project_id"),
                ("/api/runs?workflow_id=%00", "workflow_id"),
                ("/api/runs?metadata=\(nulMetadata)", "metadata"),
                ("/api/search?q=hello&project_id=%00", "project_id"),
                ("/api/projects?cursor=\(nulCursor)", "cursor"),
                ("/api/agents?cursor=\(nulCursor)", "cursor"),
                ("/api/sessions?cursor=\(nulCursor)", "cursor"),
                ("/api/workflows?cursor=\(nulCursor)", "cursor"),
                ("/api/runs?cursor=\(nulCursor)", "cursor"),
            ]
            for (uri, field) in cases {
                let response = try await client.send(uri, .get)
                let problem = try Self.expectProblem(response, [422], "GET \(uri)")
                #expect(problem?.field == field, "GET \(uri): field \(problem?.field ?? "none")")
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func percentEncodedNulInEveryPathIdIsA4xxProblem(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let f = try await Self.fixture(client)
            let message = #"{"role":"user","content":"hi"}"#
            let cases: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/api/projects/{id}", nil),
                (.patch, "/api/projects/{id}", #"{"name":"x"}"#),
                (.delete, "/api/projects/{id}", nil),
                (.get, "/api/agents/{id}", nil),
                (.patch, "/api/agents/{id}", #"{"name":"x"}"#),
                (.delete, "/api/agents/{id}", nil),
                (.post, "/api/agents/{id}/deploy", nil),
                (.post, "/api/agents/{id}/update", nil),
                (.post, "/api/agents/{id}/undeploy", nil),
                (.get, "/api/tasks/{id}", nil),
                (.patch, "/api/tasks/{id}", #"{"title":"x"}"#),
                (.post, "/api/tasks/{id}/move", #"{"column":"todo"}"#),
                (.delete, "/api/tasks/{id}", nil),
                (.get, "/api/sessions/{id}", nil),
                (.patch, "/api/sessions/{id}", #"{"title":"x"}"#),
                (.delete, "/api/sessions/{id}", nil),
                (.post, "/api/sessions/{id}/messages", message),
                (.get, "/api/sessions/{id}/messages", nil),
                (.post, "/api/sessions/{id}/events", #"{"type":"x"}"#),
                (.get, "/api/sessions/{id}/events", nil),
                (.get, "/api/sessions/{id}/events/stream", nil),
                (.get, "/api/workflows/{id}", nil),
                (.post, "/api/workflows/{id}/archive", nil),
                (.post, "/api/workflows/{id}/versions", #"{"definition":{}}"#),
                (.get, "/api/workflows/{id}/versions", nil),
                (.get, "/api/workflows/{id}/versions/1", nil),
                (.post, "/api/workflows/{id}/checkpoints", #"{"config_version":"v"}"#),
                (.get, "/api/workflows/{id}/checkpoints", nil),
                (.get, "/api/workflows/{id}/checkpoints/best", nil),
                (.post, "/api/checkpoints/{id}/best", nil),
                (.get, "/api/runs/{id}", nil),
                (.post, "/api/runs/{id}/lease", #"{"worker_id":"w","lease_seconds":30}"#),
                (.post, "/api/runs/{id}/steps", #"{"step_index":0,"name":"s","status":"running"}"#),
                (.get, "/api/runs/{id}/steps", nil),
                (.post, "/api/runs/{id}/finish", #"{"status":"succeeded"}"#),
                (.delete, "/api/tokens/{id}", nil),
                // An id with a NUL after real characters, as a client concatenating strings would send.
                (.get, "/api/projects/\(f.project){id}", nil),
                (.get, "/api/runs/\(f.run){id}/steps", nil),
                (.post, "/api/runs/\(f.run){id}/finish", #"{"status":"succeeded"}"#),
            ]
            for (method, template, body) in cases {
                // Hummingbird does not percent-decode path segments, so "%00" is an unknown id like any other
                // (a raw NUL never gets past the HTTP parser: see `aRawNulInThePathIsA400Problem`).
                let uri = template.replacingOccurrences(of: "{id}", with: "%00")
                let response = try await client.send(uri, method, json: body)
                try Self.expectProblem(response, [404, 409, 422], "\(method) \(uri)")
            }
            // None of them changed anything.
            let run = try await client.send("/api/runs/\(f.run)", .get)
            #expect(run.text.contains(#""status":"pending""#), "\(run.text)")
        }
    }

    /// Every repository entry point that takes an id refuses NUL before any statement, with a 422 naming
    /// the parameter: the API's path ids and the command line's arguments go through these.
    @Test(arguments: TestBackend.allCases)
    func everyRepositoryEntryPointRefusesNulIds(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, store in
            let f = try await Self.fixture(client)
            let nul = "\u{0}"
            let calls: [(String, @Sendable () async throws -> Void)] = [
                ("projects.get", { _ = try await store.projects.get(nul) }),
                ("projects.update", { _ = try await store.projects.update(nul, ProjectPatch(name: "x")) }),
                ("projects.delete", { try await store.projects.delete(nul) }),
                ("agents.get", { _ = try await store.agents.get(nul) }),
                ("agents.get(idOrName:)", { _ = try await store.agents.get(idOrName: nul) }),
                ("agents.list", { _ = try await store.agents.list(projectId: nul) }),
                ("agents.update", { _ = try await store.agents.update(nul, AgentPatch(name: "x")) }),
                ("agents.recordDeployment", {
                    _ = try await store.agents.recordDeployment(nul, status: .failed, databaseName: nil, databaseBackend: nil, lastError: nil)
                }),
                ("agents.delete", { try await store.agents.delete(nul) }),
                ("tasks.get", { _ = try await store.tasks.get(nul) }),
                ("tasks.list", { _ = try await store.tasks.list(projectId: nul) }),
                ("tasks.update", { _ = try await store.tasks.update(nul, TaskPatch(title: "x")) }),
                ("tasks.update assigned", { _ = try await store.tasks.update(f.task, TaskPatch(assignedAgentId: .some(nul))) }),
                ("tasks.move", { _ = try await store.tasks.move(nul, to: .todo) }),
                ("tasks.delete", { try await store.tasks.delete(nul) }),
                ("sessions.get", { _ = try await store.sessions.get(nul) }),
                ("sessions.list", { _ = try await store.sessions.list(agentId: nul) }),
                ("sessions.update", { _ = try await store.sessions.update(nul, SessionPatch(title: "x")) }),
                ("sessions.delete", { try await store.sessions.delete(nul) }),
                ("messages.append", { _ = try await store.messages.append(sessionId: nul, NewMessage(role: .user, content: "x")) }),
                ("messages.list", { _ = try await store.messages.list(sessionId: nul) }),
                ("events.append", { _ = try await store.events.append(sessionId: nul, NewSessionEvent(type: "x")) }),
                ("events.list", { _ = try await store.events.list(sessionId: nul) }),
                ("workflows.get", { _ = try await store.workflows.get(nul) }),
                ("workflows.list", { _ = try await store.workflows.list(projectId: nul) }),
                ("workflows.archive", { _ = try await store.workflows.archive(nul) }),
                ("workflows.publish", { _ = try await store.workflows.publish(workflowId: nul, definition: nil) }),
                ("workflows.version", { _ = try await store.workflows.version(workflowId: nul, version: 1) }),
                ("workflows.versions", { _ = try await store.workflows.versions(workflowId: nul) }),
                ("checkpoints.save", { _ = try await store.checkpoints.save(workflowId: nul, NewCheckpoint(configVersion: "v")) }),
                ("checkpoints.save run", { _ = try await store.checkpoints.save(workflowId: f.workflow, NewCheckpoint(runId: nul, configVersion: "v")) }),
                ("checkpoints.markBest", { _ = try await store.checkpoints.markBest(nul) }),
                ("checkpoints.latest", { _ = try await store.checkpoints.latest(workflowId: nul) }),
                ("checkpoints.best", { _ = try await store.checkpoints.best(workflowId: nul) }),
                ("runs.get", { _ = try await store.runs.get(nul) }),
                ("runs.list", { _ = try await store.runs.list(RunFilter(workflowId: nul)) }),
                ("runs.renewLease", { _ = try await store.runs.renewLease(runId: nul, workerId: "w", leaseSeconds: 30) }),
                ("runs.renewLease worker", { _ = try await store.runs.renewLease(runId: f.run, workerId: nul, leaseSeconds: 30) }),
                ("runs.appendStep", { _ = try await store.runs.appendStep(runId: nul, NewRunStep(stepIndex: 0, name: "s", status: .running)) }),
                ("runs.steps", { _ = try await store.runs.steps(runId: nul) }),
                ("runs.finish", { _ = try await store.runs.finish(runId: nul, RunCompletion(status: .succeeded)) }),
                ("search", { _ = try await store.search.search("hello", projectId: nul) }),
            ]
            for (name, call) in calls {
                do {
                    try await call()
                    Issue.record("\(name) accepted a NUL id")
                } catch let error as StoreError {
                    #expect(error.kind == .invalid, "\(name): \(error.kind) \(error.message)")
                    #expect(error.field != nil, "\(name): no field named")
                }
            }
        }
    }

    /// A raw NUL in the request line never reaches the router: the HTTP parser refuses it, and the
    /// answer is problem+json like every other error. Sent over a plain socket, since the test client
    /// does not put a NUL on the wire.
    @Test func aRawNulInTheRequestLineIsA400Problem() async throws {
        try await TestSupport.withClient(.sqliteMemory, live: true) { client, _ in
            let port = try #require(client.port)
            for target in ["/api/projects/\u{0}", "/api/projects/abc\u{0}def", "/api/agents?project_id=\u{0}"] {
                let answer = try Self.rawExchange(port: port, "GET \(target) HTTP/1.1\r\nHost: localhost\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer)")
                #expect(answer.lowercased().contains("content-type: application/problem+json"), "\(answer)")
                #expect(answer.contains(#""type":"/problems/bad-request""#), "\(answer)")
            }
        }
    }

    /// Sends `request` as bytes on a new connection to 127.0.0.1:`port` and returns all the server
    /// wrote until it closed the connection.
    static func rawExchange(port: Int, _ request: String) throws -> String {
        struct SocketError: Error, CustomStringConvertible {
            var description: String
        }
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw SocketError(description: "socket() failed") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw SocketError(description: "connect() failed") }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw SocketError(description: "send() failed") }
            sent += count
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    @Test(arguments: TestBackend.allCases)
    func integersBeyond64BitsAreA422NamingTheField(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let f = try await Self.fixture(client)
            let huge = "99999999999999999999999"
            let cases: [(HTTPRequest.Method, String, String, String)] = [
                (.post, "/api/tasks", #"{"project_id":"\#(f.project)","title":"x","priority":\#(huge)}"#, "priority"),
                (.post, "/api/tasks", #"{"project_id":"\#(f.project)","title":"x","priority":-\#(huge)}"#, "priority"),
                (.post, "/api/tasks", #"{"project_id":"\#(f.project)","title":"x","priority":18446744073709551616}"#, "priority"),
                (.patch, "/api/tasks/\(f.task)", #"{"priority":\#(huge)}"#, "priority"),
                (.post, "/api/tasks/\(f.task)/move", #"{"column":"todo","position":\#(huge)}"#, "position"),
                (.post, "/api/runs/claim", #"{"worker_id":"w","lease_seconds":\#(huge)}"#, "lease_seconds"),
                (.post, "/api/runs/\(f.run)/steps", #"{"step_index":\#(huge),"name":"s","status":"running"}"#, "step_index"),
                (.post, "/api/runs", #"{"workflow_id":"\#(f.workflow)","version":\#(huge)}"#, "version"),
                // Metadata holding a large number as well does not hide the field at fault.
                (.post, "/api/tasks", #"{"project_id":"\#(f.project)","title":"x","labels":[1e300, 2.5],"priority":\#(huge)}"#, "priority"),
            ]
            for (method, uri, body, field) in cases {
                let response = try await client.send(uri, method, json: body)
                let problem = try Self.expectProblem(response, [422], "\(method) \(uri) \(body)")
                #expect(problem?.field == field, "\(method) \(uri) \(body): field \(problem?.field ?? "none")")
                #expect(problem?.detail.contains("valid JSON") == false, "\(method) \(uri): \(problem?.detail ?? "")")
            }
            // Malformed JSON stays a 400, even with a large number in it.
            let malformed = try await client.send("/api/tasks", .post, json: #"{"project_id":"x","priority":\#(huge)"#)
            try Self.expectProblem(malformed, [400], "malformed body")
            // A large number where any JSON is allowed is kept.
            let metadata = try await client.send("/api/sessions", .post, json: #"{"project_id":"\#(f.project)","metadata":{"n":\#(huge)}}"#)
            #expect(metadata.status == .created, "\(metadata.text)")
        }
    }

    /// The router test client hands requests straight to the router, so these listen for real: the
    /// HTTP/1 parser refuses the request before any middleware runs. The server closes the connection
    /// after answering, and the test client keeps one connection, so each request gets a server of its own.
    @Test func aHundredKilobyteQueryStringIsA4xxProblem() async throws {
        let long = String(repeating: "a", count: 100 * 1024)
        try await TestSupport.withClient(.sqliteMemory, live: true) { client, _ in
            let response = try await client.send("/api/projects?q=\(long)", .get)
            let problem = try Self.expectProblem(response, Set(400..<500), "100 KB query string")
            #expect(problem?.status == 431)
        }
        try await TestSupport.withClient(.sqliteMemory, live: true) { client, _ in
            let response = try await client.send("/api/projects", .get, headers: [HTTPField.Name("X-Padding")!: long])
            try Self.expectProblem(response, Set(400..<500), "100 KB header")
        }
        // Just under the limit is still served.
        try await TestSupport.withClient(.sqliteMemory, live: true) { client, _ in
            let response = try await client.send("/api/projects?q=\(String(repeating: "a", count: 60 * 1024))", .get)
            #expect(response.status == .ok)
        }
    }
}
