import DovetailStore
import Hummingbird

struct RunsController {
    let store: Store

    struct ClaimRequest: Decodable {
        var workerId: String
        var leaseSeconds: Int

        enum CodingKeys: String, CodingKey {
            case workerId = "worker_id"
            case leaseSeconds = "lease_seconds"
        }
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post { request, context in
            let input = try await APIJSON.decode(NewRun.self, from: request, context: context)
            return try APIJSON.response(try await store.runs.start(input), status: .created)
        }
        group.get { request, _ in
            var filter = RunFilter(workflowId: request.stringQuery("workflow_id"), metadata: try MetadataFilter.parse(request.stringQuery("metadata")))
            filter.status = try request.enumQuery("status", as: RunStatus.self)
            filter.createdAfter = try request.timestampQuery("created_after")
            filter.createdBefore = try request.timestampQuery("created_before")
            return try APIJSON.response(try await store.runs.list(filter, try request.pageRequest()))
        }
        group.post("claim") { request, context in
            let input = try await APIJSON.decode(ClaimRequest.self, from: request, context: context)
            guard let run = try await store.runs.claim(workerId: input.workerId, leaseSeconds: input.leaseSeconds) else {
                return APIJSON.empty()
            }
            return try APIJSON.response(run)
        }
        group.get("{id}") { _, context in
            try APIJSON.response(try await store.runs.get(try context.parameters.require("id")))
        }
        group.post("{id}/lease") { request, context in
            let input = try await APIJSON.decode(ClaimRequest.self, from: request, context: context)
            return try APIJSON.response(
                try await store.runs.renewLease(runId: try context.parameters.require("id"), workerId: input.workerId, leaseSeconds: input.leaseSeconds)
            )
        }
        group.post("{id}/steps") { request, context in
            let input = try await APIJSON.decode(NewRunStep.self, from: request, context: context)
            return try APIJSON.response(try await store.runs.appendStep(runId: try context.parameters.require("id"), input), status: .created)
        }
        group.get("{id}/steps") { _, context in
            try APIJSON.response(ItemList(items: try await store.runs.steps(runId: try context.parameters.require("id"))))
        }
        group.post("{id}/finish") { request, context in
            let input = try await APIJSON.decode(RunCompletion.self, from: request, context: context)
            return try APIJSON.response(try await store.runs.finish(runId: try context.parameters.require("id"), input))
        }
    }
}

struct SearchController {
    let store: Store

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("search") { request, _ in
            guard let query = request.stringQuery("q") else { throw Problem.validation("q is required.", field: "q") }
            let hits = try await store.search.search(query, projectId: request.stringQuery("project_id"), limit: try request.integerQuery("limit") ?? 20)
            return try APIJSON.response(ItemList(items: hits))
        }
    }
}

struct TokensController {
    let store: Store

    struct CreateRequest: Decodable {
        var name: String
        var scope: TokenScope
        var expiresInSeconds: Int64?

        enum CodingKeys: String, CodingKey {
            case name, scope
            case expiresInSeconds = "expires_in_seconds"
        }
    }

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post { request, context in
            let input = try await APIJSON.decode(CreateRequest.self, from: request, context: context)
            return try APIJSON.response(try await store.tokens.create(name: input.name, scope: input.scope, expiresIn: input.expiresInSeconds), status: .created)
        }
        group.get { _, _ in
            try APIJSON.response(ItemList(items: try await store.tokens.list()))
        }
        group.delete("{id}") { _, context in
            try APIJSON.response(try await store.tokens.revoke(try context.parameters.require("id")))
        }
    }
}

extension Request {
    func enumQuery<T: RawRepresentable>(_ name: String, as: T.Type) throws -> T? where T.RawValue == String, T: CaseIterable {
        guard let text = stringQuery(name) else { return nil }
        guard let value = T(rawValue: text) else {
            throw Problem.validation("\(name) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")).", field: name)
        }
        return value
    }

    func timestampQuery(_ name: String) throws -> Timestamp? {
        guard let text = stringQuery(name) else { return nil }
        guard let value = Timestamp(iso8601: text) else {
            throw Problem.validation("\(name) must be an ISO 8601 time such as 2026-01-31T12:00:00Z.", field: name)
        }
        return value
    }
}
