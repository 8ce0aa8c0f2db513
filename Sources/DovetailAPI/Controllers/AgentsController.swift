import DovetailOps
import DovetailStore
import Foundation
import Hummingbird

struct AgentsController {
    let store: Store
    let deployer: AgentDeployer

    /// `POST /api/agents/{id}/undeploy` body; optional.
    struct UndeployRequest: Decodable {
        enum CodingKeys: String, CodingKey { case dropDatabase = "drop_database" }
        var dropDatabase: Bool?
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post { request, context in
            let input = try await APIJSON.decode(NewAgent.self, from: request, context: context)
            return try APIJSON.response(try await store.agents.create(input), status: .created)
        }
        group.get { request, _ in
            try APIJSON.response(try await store.agents.list(projectId: request.stringQuery("project_id"), try request.pageRequest()))
        }
        group.get("{id}") { _, context in
            try APIJSON.response(try await store.agents.get(try context.parameters.require("id")))
        }
        group.patch("{id}") { request, context in
            let patch = try await APIJSON.decode(AgentPatch.self, from: request, context: context)
            return try APIJSON.response(try await store.agents.update(try context.parameters.require("id"), patch))
        }
        group.delete("{id}") { _, context in
            try await store.agents.delete(try context.parameters.require("id"))
            return APIJSON.empty()
        }
        group.post("{id}/deploy") { _, context in
            let id = try context.parameters.require("id")
            return try APIJSON.response(try await Self.translating { try await deployer.deploy(id, logger: context.logger).agent })
        }
        group.post("{id}/update") { _, context in
            let id = try context.parameters.require("id")
            return try APIJSON.response(try await Self.translating { try await deployer.update(id, logger: context.logger).agent })
        }
        group.post("{id}/undeploy") { request, context in
            let id = try context.parameters.require("id")
            let input = try await APIJSON.decodeIfPresent(UndeployRequest.self, from: request, context: context)
            let drop = input?.dropDatabase
            return try APIJSON.response(try await Self.translating { try await deployer.undeploy(id, dropDatabase: drop, logger: context.logger).agent })
        }
    }

    /// Provisioning failures as problem+json: the message names what to fix and never holds a password.
    static func translating<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as AgentDatabaseError {
            switch error.kind {
            case .unavailable:
                throw Problem(status: .serviceUnavailable, slug: "agent-database-unavailable", detail: error.message, retryAfter: 5)
            case .notProvisioned:
                throw Problem(status: .conflict, slug: "agent-not-deployed", detail: error.message)
            case .invalidName:
                throw Problem.validation(error.message, field: "id")
            case .configuration, .authentication, .permission, .server, .launch:
                throw Problem(status: .internalServerError, slug: "agent-deployment-failed", detail: error.message)
            }
        }
    }
}
