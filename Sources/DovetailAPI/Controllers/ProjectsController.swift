import DovetailStore
import Hummingbird

struct ProjectsController {
    let store: Store

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post { request, context in
            let input = try await APIJSON.decode(NewProject.self, from: request, context: context)
            return try APIJSON.response(try await store.projects.create(input), status: .created)
        }
        group.get { request, _ in
            try APIJSON.response(try await store.projects.list(try request.pageRequest()))
        }
        group.get("{id}") { _, context in
            try APIJSON.response(try await store.projects.get(try context.parameters.require("id")))
        }
        group.patch("{id}") { request, context in
            let patch = try await APIJSON.decode(ProjectPatch.self, from: request, context: context)
            return try APIJSON.response(try await store.projects.update(try context.parameters.require("id"), patch))
        }
        group.delete("{id}") { _, context in
            try await store.projects.delete(try context.parameters.require("id"))
            return APIJSON.empty()
        }
    }
}
