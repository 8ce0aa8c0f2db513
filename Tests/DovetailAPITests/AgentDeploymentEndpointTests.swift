import DovetailAPI
import DovetailOps
import DovetailStore
import DovetailTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// `POST /api/agents/{id}/deploy|update|undeploy` with Dovetail's store on each backend and agents on the
/// default (SQLite) agent backend, in a temporary data directory. PostgreSQL agent databases are covered,
/// case by case, in `DovetailOpsTests.AgentDatabaseTests`.
@Suite("Agent deployment endpoints")
struct AgentDeploymentEndpointTests {
    @Test(arguments: TestBackend.allCases)
    func deployUpdateUndeploy(_ backend: TestBackend) async throws {
        let directory = FileManager.default.temporaryDirectory.path + "/dovetail-api-agents-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await TestSupport.withStore(backend) { store in
            let configuration = try AgentDatabaseConfiguration(environment: ["DOVETAIL_DATA_DIR": directory])
            let app = Application(router: buildRouter(store: store, agentDatabases: configuration), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            let project = try await store.projects.create(NewProject(name: "API agents"))
            let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "coder"))
            try await app.test(.router) { client in
                let early = try await client.send("/api/agents/\(agent.id)/update", .post)
                #expect(early.status == .conflict)
                #expect(try early.json(ProblemBody.self).type == "/problems/agent-not-deployed")

                let deployed = try await client.send("/api/agents/\(agent.id)/deploy", .post)
                #expect(deployed.status == .ok)
                let body = try deployed.json(Agent.self)
                #expect(body.status == .deployed && body.databaseBackend == "sqlite")
                let name = try #require(body.databaseName)
                #expect(FileManager.default.fileExists(atPath: directory + "/agents/\(name).db"))

                #expect(try await client.send("/api/agents/\(agent.id)/update", .post).json(Agent.self).status == .deployed)
                let kept = try await client.send("/api/agents/\(agent.id)/undeploy", .post)
                #expect(try kept.json(Agent.self).status == .undeployed)
                #expect(FileManager.default.fileExists(atPath: directory + "/agents/\(name).db"))
                let dropped = try await client.send("/api/agents/\(agent.id)/undeploy", .post, json: #"{"drop_database": true}"#)
                #expect(try dropped.json(Agent.self).databaseName == nil)
                #expect(!FileManager.default.fileExists(atPath: directory + "/agents/\(name).db"))

                let wrongType = try await client.send("/api/agents/\(agent.id)/undeploy", .post, json: #"{"drop_database": "yes"}"#)
                #expect(wrongType.status == .unprocessableContent)
                #expect(try await client.send("/api/agents/no-such-agent/deploy", .post).status == .notFound)
            }
        }
    }
}
