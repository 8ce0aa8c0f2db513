import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

@Suite("Service tokens, search and retention on every backend")
struct TokenSearchRetentionTests {
    @Test(arguments: TestBackend.allCases)
    func tokensAuthenticateUntilRevokedOrExpired(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let created = try await store.tokens.create(name: "ci", scope: .write, expiresIn: 3600)
            #expect(created.secret.hasPrefix("dvt_\(created.token.prefix)_"))
            let stored = try await store.database.read { sql in
                try await sql.raw("SELECT secret_hash FROM service_tokens").all().map { try $0.decode(column: "secret_hash", as: String.self) }
            }
            #expect(stored.count == 1)
            #expect(!stored[0].contains(created.secret))
            #expect(stored[0].count == 64)

            guard case .success(let token) = try await store.tokens.authenticate(created.secret) else { Issue.record("valid token refused"); return }
            #expect(token.scope == .write)
            _ = try await store.tokens.authenticate(created.secret)
            let listed = try #require(try await store.tokens.list().first)
            #expect(listed.useCount == 2)
            #expect(listed.lastUsedAt != nil)

            var tampered = Array(created.secret)
            tampered[tampered.count - 1] = tampered.last == "a" ? "b" : "a"
            #expect(try await store.tokens.authenticate(String(tampered)) == .failure(.unknown))
            #expect(try await store.tokens.authenticate("Bearer nonsense") == .failure(.malformed))
            #expect(try await store.tokens.authenticate(created.secret, now: Timestamp.now().adding(seconds: 7200)) == .failure(.expired))
            _ = try await store.tokens.revoke("ci")
            #expect(try await store.tokens.authenticate(created.secret) == .failure(.revoked))
            #expect(try await store.tokens.activeCount() == 0)
        }
    }

    static let corpus = [
        ("Deploying the agent", ["We deployed the new agent to staging", "Deployment failed twice before the agent deployed", "Lunch plans"]),
        ("Database migration notes", ["The migration to PostgreSQL copies every table", "Migrations are numbered", "The cat sat on the mat"]),
        ("Random chatter", ["Nothing about agents here", "Another deploy of the planner agent", "Agents agents agents"]),
    ]

    func seed(_ store: Store) async throws -> String {
        let project = try await store.projects.create(NewProject(name: "Search"))
        for (title, messages) in Self.corpus {
            let session = try await store.sessions.create(NewSession(projectId: project.id, title: title))
            for content in messages { _ = try await store.messages.append(sessionId: session.id, NewMessage(role: .user, content: content)) }
        }
        let deleted = try await store.sessions.create(NewSession(projectId: project.id, title: "Deleted agent deploy"))
        _ = try await store.messages.append(sessionId: deleted.id, NewMessage(role: .user, content: "deploy the agent"))
        try await store.sessions.delete(deleted.id)
        return project.id
    }

    /// The same query over the same data returns the same hits in the same order on every backend.
    @Test
    func searchResultsAndOrderAreTheSameOnEveryBackend() async throws {
        var results: [TestBackend: [[String]]] = [:]
        for backend in TestBackend.allCases {
            results[backend] = try await TestSupport.withStore(backend) { store in
                let projectId = try await seed(store)
                var perQuery: [[String]] = []
                for query in ["deploy agent", "deploying", "migrations", "the agent", "postgresql table", "agents"] {
                    let hits = try await store.search.search(query, projectId: projectId)
                    perQuery.append(hits.map { "\($0.kind.rawValue):\($0.text)" })
                }
                return perQuery
            }
        }
        let sqlite = try #require(results[.sqliteFile])
        #expect(results[.sqliteMemory] == sqlite)
        #expect(results[.postgres] == sqlite, "PostgreSQL \(results[.postgres] ?? []) vs SQLite \(sqlite)")
        // Stemming: "deploying" finds "deployed" and "Deployment"-free text alike; ranking puts two-term hits first.
        #expect(sqlite[1].contains("message:We deployed the new agent to staging"))
        #expect(sqlite[0].first?.contains("deploy") == true)
        #expect(!sqlite[0].contains { $0.contains("Deleted") || $0 == "message:deploy the agent" }, "deleted sessions are not searched")
        #expect(sqlite[2].contains("message:Migrations are numbered"))
    }

    @Test(arguments: TestBackend.allCases)
    func searchRefusesEmptyQueries(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            for query in ["", "the a of", "!!! ***", "\"; DROP TABLE messages; --"] {
                do {
                    let hits = try await store.search.search(query)
                    #expect(hits.isEmpty || query.contains("DROP"), "\(query)")
                } catch let error as StoreError {
                    #expect(error.field == "q")
                }
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func sessionMetadataAndStatusFilters(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let project = try await store.projects.create(NewProject(name: "F"))
            let web = try await store.sessions.create(NewSession(projectId: project.id, metadata: .object(["channel": .string("web"), "vip": .bool(true)])))
            let cli = try await store.sessions.create(NewSession(projectId: project.id, metadata: .object(["channel": .string("cli")])))
            _ = try await store.sessions.update(cli.id, SessionPatch(status: .completed))
            let filtered = try await store.sessions.list(projectId: project.id, filter: SessionFilter(metadata: try MetadataFilter.parse(#"{"channel":"web"}"#)))
            #expect(filtered.items.map(\.id) == [web.id])
            let vip = try await store.sessions.list(filter: SessionFilter(metadata: try MetadataFilter.parse(#"{"vip":true}"#)))
            #expect(vip.items.map(\.id) == [web.id])
            let completed = try await store.sessions.list(filter: SessionFilter(status: .completed))
            #expect(completed.items.map(\.id) == [cli.id])
        }
    }

    /// Rows one millisecond older than the cutoff go; rows at the cutoff stay; unfinished runs and
    /// live sessions stay whatever their age.
    @Test(arguments: TestBackend.allCases)
    func purgeRespectsTheBoundary(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let cutoff = Timestamp(millisecondsSince1970: 1_700_000_000_000)
            let before = Timestamp(millisecondsSince1970: cutoff.millisecondsSince1970 - 1)
            let project = try await store.projects.create(NewProject(name: "Old"))
            let live = try await store.sessions.create(NewSession(projectId: project.id))
            let oldEvent = try await store.events.append(sessionId: live.id, NewSessionEvent(type: "old"))
            let keptEvent = try await store.events.append(sessionId: live.id, NewSessionEvent(type: "kept"))
            let gone = try await store.sessions.create(NewSession(projectId: project.id))
            _ = try await store.messages.append(sessionId: gone.id, NewMessage(role: .user, content: "bye"))
            try await store.sessions.delete(gone.id)
            let recentlyDeleted = try await store.sessions.create(NewSession(projectId: project.id))
            try await store.sessions.delete(recentlyDeleted.id)

            let workflow = try await store.workflows.create(NewWorkflow(projectId: project.id, handle: "w"))
            _ = try await store.workflows.publish(workflowId: workflow.id, definition: nil)
            let oldRun = try await store.runs.start(NewRun(workflowId: workflow.id))
            _ = try await store.runs.appendStep(runId: oldRun.id, NewRunStep(stepIndex: 0, name: "s", status: .succeeded))
            _ = try await store.runs.finish(runId: oldRun.id, RunCompletion(status: .succeeded), now: before)
            let keptRun = try await store.runs.start(NewRun(workflowId: workflow.id))
            _ = try await store.runs.finish(runId: keptRun.id, RunCompletion(status: .failed, error: "x"), now: cutoff)
            let unfinished = try await store.runs.start(NewRun(workflowId: workflow.id), now: before)

            try await store.database.write { sql in
                try await sql.raw("UPDATE session_events SET created_at = \(bind: before) WHERE id = \(bind: oldEvent.id)").run()
                try await sql.raw("UPDATE session_events SET created_at = \(bind: cutoff) WHERE id = \(bind: keptEvent.id)").run()
                try await sql.raw("UPDATE sessions SET deleted_at = \(bind: before) WHERE id = \(bind: gone.id)").run()
            }

            let dry = try await store.retention.purge(olderThan: cutoff, dryRun: true)
            #expect(dry == PurgeReport(cutoff: cutoff, events: 1, runs: 1, sessions: 1, dryRun: true))
            #expect(try await store.events.list(sessionId: live.id).count == 2, "a dry run deletes nothing")

            let report = try await store.retention.purge(olderThan: cutoff)
            #expect(report.events == 1 && report.runs == 1 && report.sessions == 1)
            #expect(try await store.events.list(sessionId: live.id).map(\.id) == [keptEvent.id])
            await #expect(throws: StoreError.self) { try await store.runs.get(oldRun.id) }
            #expect(try await store.runs.get(keptRun.id).status == .failed)
            #expect(try await store.runs.get(unfinished.id).status == .pending)
            let leftovers = try await store.database.read { sql in
                try await sql.raw("SELECT COUNT(*) AS n FROM run_steps").first()?.decode(column: "n", as: Int.self)
            }
            #expect(leftovers == 0, "a purged run takes its steps with it")
            let sessions = try await store.database.read { sql in
                try await sql.raw("SELECT id FROM sessions").all().map { try $0.decode(column: "id", as: String.self) }
            }
            #expect(Set(sessions) == Set([live.id, recentlyDeleted.id]))
        }
    }
}
