import DovetailStore
import Hummingbird

struct AgentsController {
    let store: Store

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
    }
}
