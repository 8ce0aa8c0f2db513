import DovetailStore
import Hummingbird

struct WorkflowsController {
    let store: Store

    struct PublishRequest: Decodable {
        var definition: JSONValue?
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post { request, context in
            let input = try await APIJSON.decode(NewWorkflow.self, from: request, context: context)
            return try APIJSON.response(try await store.workflows.create(input), status: .created)
        }
        group.get { request, _ in
            let includeArchived = request.stringQuery("include_archived") == "true"
            return try APIJSON.response(
                try await store.workflows.list(projectId: request.stringQuery("project_id"), includeArchived: includeArchived, try request.pageRequest())
            )
        }
        group.get("{id}") { _, context in
            try APIJSON.response(try await store.workflows.get(try context.parameters.require("id")))
        }
        group.post("{id}/archive") { _, context in
            try APIJSON.response(try await store.workflows.archive(try context.parameters.require("id")))
        }
        group.post("{id}/versions") { request, context in
            let input = try await APIJSON.decode(PublishRequest.self, from: request, context: context)
            let workflowId = try context.parameters.require("id")
            _ = try await store.workflows.get(workflowId)
            return try APIJSON.response(try await store.workflows.publish(workflowId: workflowId, definition: input.definition), status: .created)
        }
        group.get("{id}/versions") { _, context in
            try APIJSON.response(ItemList(items: try await store.workflows.versions(workflowId: try context.parameters.require("id"))))
        }
        group.get("{id}/versions/{version}") { _, context in
            guard let version = Int64(try context.parameters.require("version")) else {
                throw Problem.validation("version must be an integer.", field: "version")
            }
            return try APIJSON.response(try await store.workflows.version(workflowId: try context.parameters.require("id"), version: version))
        }
        group.post("{id}/checkpoints") { request, context in
            let input = try await APIJSON.decode(NewCheckpoint.self, from: request, context: context)
            let workflowId = try context.parameters.require("id")
            _ = try await store.workflows.get(workflowId)
            return try APIJSON.response(try await store.checkpoints.save(workflowId: workflowId, input), status: .created)
        }
        group.get("{id}/checkpoints") { request, context in
            let workflowId = try context.parameters.require("id")
            _ = try await store.workflows.get(workflowId)
            return try APIJSON.response(ItemList(items: try await store.checkpoints.latest(workflowId: workflowId, limit: try request.integerQuery("limit") ?? 20)))
        }
        group.get("{id}/checkpoints/best") { _, context in
            let workflowId = try context.parameters.require("id")
            _ = try await store.workflows.get(workflowId)
            guard let best = try await store.checkpoints.best(workflowId: workflowId) else {
                throw Problem.notFound("Workflow '\(workflowId)' has no best checkpoint yet.")
            }
            return try APIJSON.response(best)
        }
    }
}

/// `{"items": [...]}` for short lists that are not paginated.
struct ItemList<Item: Encodable>: Encodable {
    var items: [Item]
}

struct CheckpointsController {
    let store: Store

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post("{id}/best") { _, context in
            try APIJSON.response(try await store.checkpoints.markBest(try context.parameters.require("id")))
        }
    }
}
