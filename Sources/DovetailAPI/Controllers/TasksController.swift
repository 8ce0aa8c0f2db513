import DovetailStore
import Hummingbird

struct TasksController {
    let store: Store

    struct MoveRequest: Decodable {
        var column: BoardColumn
        var position: Int?
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post { request, context in
            let input = try await APIJSON.decode(NewTask.self, from: request, context: context)
            return try APIJSON.response(try await store.tasks.create(input), status: .created)
        }
        group.get { request, _ in
            guard let projectId = request.stringQuery("project_id") else {
                throw Problem.validation("project_id is required to list tasks.", field: "project_id")
            }
            var column: BoardColumn?
            if let text = request.stringQuery("column") {
                guard let parsed = BoardColumn(rawValue: text) else {
                    let names = BoardColumn.allCases.map(\.rawValue).joined(separator: ", ")
                    throw Problem.validation("column must be one of \(names).", field: "column")
                }
                column = parsed
            }
            return try APIJSON.response(try await store.tasks.list(projectId: projectId, column: column, try request.pageRequest()))
        }
        group.get("{id}") { _, context in
            try APIJSON.response(try await store.tasks.get(try context.parameters.require("id")))
        }
        group.patch("{id}") { request, context in
            let patch = try await APIJSON.decode(TaskPatch.self, from: request, context: context)
            return try APIJSON.response(try await store.tasks.update(try context.parameters.require("id"), patch))
        }
        group.post("{id}/move") { request, context in
            let move = try await APIJSON.decode(MoveRequest.self, from: request, context: context)
            return try APIJSON.response(try await store.tasks.move(try context.parameters.require("id"), to: move.column, position: move.position))
        }
        group.delete("{id}") { _, context in
            try await store.tasks.delete(try context.parameters.require("id"))
            return APIJSON.empty()
        }
    }
}
