import DovetailAPI
import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Authentication, scopes and the workflow API")
struct AuthAndWorkflowEndpointTests {
    /// Every route of the API, with the scope it needs.
    static let routes: [(HTTPRequest.Method, String, TokenScope)] = [
        (.get, "/metrics", .read),
        (.get, "/api/projects", .read), (.post, "/api/projects", .write), (.get, "/api/projects/x", .read),
        (.patch, "/api/projects/x", .write), (.delete, "/api/projects/x", .write),
        (.get, "/api/agents", .read), (.post, "/api/agents", .write), (.get, "/api/agents/x", .read),
        (.patch, "/api/agents/x", .write), (.delete, "/api/agents/x", .write),
        (.get, "/api/tasks?project_id=x", .read), (.post, "/api/tasks", .write), (.get, "/api/tasks/x", .read),
        (.patch, "/api/tasks/x", .write), (.post, "/api/tasks/x/move", .write), (.delete, "/api/tasks/x", .write),
        (.get, "/api/sessions", .read), (.post, "/api/sessions", .write), (.get, "/api/sessions/x", .read),
        (.patch, "/api/sessions/x", .write), (.delete, "/api/sessions/x", .write),
        (.get, "/api/sessions/x/messages", .read), (.post, "/api/sessions/x/messages", .write),
        (.get, "/api/sessions/x/events", .read), (.post, "/api/sessions/x/events", .write), (.get, "/api/sessions/x/events/stream", .read),
        (.get, "/api/workflows", .read), (.post, "/api/workflows", .write), (.get, "/api/workflows/x", .read),
        (.post, "/api/workflows/x/archive", .write), (.get, "/api/workflows/x/versions", .read), (.post, "/api/workflows/x/versions", .write),
        (.get, "/api/workflows/x/versions/1", .read), (.get, "/api/workflows/x/checkpoints", .read),
        (.post, "/api/workflows/x/checkpoints", .write), (.get, "/api/workflows/x/checkpoints/best", .read),
        (.post, "/api/checkpoints/x/best", .write),
        (.get, "/api/runs", .read), (.post, "/api/runs", .write), (.post, "/api/runs/claim", .write), (.get, "/api/runs/x", .read),
        (.post, "/api/runs/x/lease", .write), (.get, "/api/runs/x/steps", .read), (.post, "/api/runs/x/steps", .write),
        (.post, "/api/runs/x/finish", .write),
        (.get, "/api/search?q=x", .read),
        (.get, "/api/tokens", .admin), (.post, "/api/tokens", .admin), (.delete, "/api/tokens/x", .admin),
    ]

    @Test(arguments: TestBackend.allCases)
    func everyRouteChecksScope(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            var made: [TokenScope: String] = [:]
            for scope in TokenScope.allCases { made[scope] = try await store.tokens.create(name: scope.rawValue, scope: scope).secret }
            let secrets = made
            let app = Application(router: buildRouter(store: store, authRequired: true), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                #expect(try await client.send("/health", .get).status == .ok, "/health stays open")
                for (method, path, needed) in Self.routes {
                    let anonymous = try await client.send(path, method, json: method == .get ? nil : "{}")
                    #expect(anonymous.status == .unauthorized, "\(method) \(path) without a token")
                    #expect(anonymous.headers[.contentType] == "application/problem+json")
                    for scope in TokenScope.allCases {
                        let response = try await client.send(
                            path, method, json: method == .get ? nil : "{}", headers: [.authorization: "Bearer \(secrets[scope]!)"]
                        )
                        if scope >= needed {
                            #expect(response.status != .unauthorized && response.status != .forbidden, "\(method) \(path) with \(scope): \(response.status)")
                        } else {
                            #expect(response.status == .forbidden, "\(method) \(path) with \(scope): \(response.status)")
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func expiredRevokedAndForgedTokensAre401(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let revoked = try await store.tokens.create(name: "old", scope: .admin)
            _ = try await store.tokens.revoke(revoked.token.id)
            let expiring = try await store.tokens.create(name: "short", scope: .admin, expiresIn: 1)
            try await store.database.write { sql in
                try await sql.raw("UPDATE service_tokens SET expires_at = \(bind: Timestamp.now().adding(seconds: -5)) WHERE id = \(bind: expiring.token.id)").run()
            }
            let app = Application(router: buildRouter(store: store, authRequired: true), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                for (secret, word) in [(revoked.secret, "revoked"), (expiring.secret, "expired"), ("dvt_000000000000_" + String(repeating: "0", count: 48), "not valid")] {
                    let response = try await client.send("/api/projects", .get, headers: [.authorization: "Bearer \(secret)"])
                    #expect(response.status == .unauthorized)
                    #expect(try response.json(ProblemBody.self).detail.contains(word))
                }
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func workflowRunLifecycleOverHTTP(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            let project = try await client.send("/api/projects", .post, json: #"{"name":"W"}"#).json(Project.self)
            let workflow = try await client.send("/api/workflows", .post, json: #"{"project_id":"\#(project.id)","handle":"daily-etl"}"#).json(Workflow.self)
            #expect(try await client.send("/api/workflows", .post, json: #"{"project_id":"\#(project.id)","handle":"daily-etl"}"#).status == .conflict)
            #expect(try await client.send("/api/workflows", .post, json: #"{"project_id":"\#(project.id)","handle":"Bad Handle"}"#).status == .unprocessableContent)
            let version = try await client.send("/api/workflows/\(workflow.id)/versions", .post, json: #"{"definition":{"steps":["a","b"]}}"#)
            #expect(version.status == .created)
            #expect(try version.json(WorkflowVersion.self).version == 1)
            #expect(try await client.send("/api/workflows/\(workflow.id)/versions/1", .get).status == .ok)
            #expect(try await client.send("/api/workflows/\(workflow.id)/versions/9", .get).status == .notFound)

            let run = try await client.send("/api/runs", .post, json: #"{"workflow_id":"\#(workflow.id)","inputs":{"day":"mon"},"metadata":{"env":"prod"}}"#)
            #expect(run.status == .created)
            let claimed = try await client.send("/api/runs/claim", .post, json: #"{"worker_id":"w1","lease_seconds":30}"#)
            #expect(claimed.status == .ok)
            let claimedRun = try claimed.json(Run.self)
            #expect(claimedRun.status == .running)
            #expect(try await client.send("/api/runs/claim", .post, json: #"{"worker_id":"w2","lease_seconds":30}"#).status == .noContent)
            #expect(try await client.send("/api/runs/claim", .post, json: #"{"worker_id":"w2"}"#).status == .unprocessableContent)
            #expect(try await client.send("/api/runs/\(claimedRun.id)/steps", .post, json: #"{"step_index":0,"name":"a","status":"succeeded","input_tokens":3,"output_tokens":4}"#).status == .created)
            #expect(try await client.send("/api/runs/\(claimedRun.id)/finish", .post, json: #"{"status":"succeeded","outputs":{"ok":true}}"#).status == .ok)
            #expect(try await client.send("/api/runs/\(claimedRun.id)/finish", .post, json: #"{"status":"failed","error":"late"}"#).status == .conflict)
            let history = try await client.send("/api/runs?workflow_id=\(workflow.id)&metadata=%7B%22env%22%3A%22prod%22%7D", .get).json(ListBody<Run>.self)
            #expect(history.items.map(\.id) == [claimedRun.id])
            #expect(try await client.send("/api/runs?metadata=notjson", .get).status == .unprocessableContent)
            #expect(try await client.send("/api/runs?status=bogus", .get).status == .unprocessableContent)

            let checkpoint = try await client.send("/api/workflows/\(workflow.id)/checkpoints", .post, json: #"{"config_version":"c1","metrics":{"score":0.9},"is_best":true}"#)
            #expect(checkpoint.status == .created)
            #expect(try await client.send("/api/workflows/\(workflow.id)/checkpoints/best", .get).json(Checkpoint.self).configVersion == "c1")
            _ = try await client.send("/api/workflows/\(workflow.id)/archive", .post)
            #expect(try await client.send("/api/workflows", .post, json: #"{"project_id":"\#(project.id)","handle":"daily-etl"}"#).status == .created)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func searchEndpoint(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, store in
            let project = try await store.projects.create(NewProject(name: "S"))
            let session = try await store.sessions.create(NewSession(projectId: project.id, title: "Release planning"))
            _ = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: "We are releasing on Friday"))
            let hits = try await client.send("/api/search?q=release&project_id=\(project.id)", .get)
            #expect(hits.status == .ok)
            struct Hit: Decodable { var kind: String; var session_id: String }
            let items = try hits.json(ListBody<Hit>.self).items
            #expect(Set(items.map(\.kind)) == ["message", "session"])
            #expect(try await client.send("/api/search", .get).status == .unprocessableContent)
            #expect(try await client.send("/api/search?q=the", .get).status == .unprocessableContent)
        }
    }
}
