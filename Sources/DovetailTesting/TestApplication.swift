import DovetailAPI
import DovetailOps
import DovetailStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging

extension TestSupport {
    /// An API application over `store`, for `app.test(.router)` or `.live`. Agents deployed through it get
    /// their SQLite files under `agentDataDirectory` (default: a fresh temporary directory), never `./data`.
    public static func application(store: Store, agentDataDirectory: String? = nil) -> some ApplicationProtocol {
        let directory = agentDataDirectory ?? FileManager.default.temporaryDirectory.path + "/dovetail-test-agents-\(UUID().uuidString)"
        let agentDatabases = AgentDatabaseConfiguration(dataDirectory: directory)
        return Application(
            responder: buildRouter(store: store, agentDatabases: agentDatabases).headAnsweringResponder(), server: .problemHTTP1(),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            logger: logger
        )
    }

    /// Runs `body` with a test client of the API over a fresh, migrated database of `backend`.
    public static func withClient(
        _ backend: TestBackend, live: Bool = false, _ body: @escaping @Sendable (any TestClientProtocol, Store) async throws -> Void
    ) async throws {
        let agentDataDirectory = FileManager.default.temporaryDirectory.path + "/dovetail-test-agents-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: agentDataDirectory) }
        try await withStore(backend) { store in
            let app = application(store: store, agentDataDirectory: agentDataDirectory)
            try await app.test(live ? .live : .router) { client in
                try await body(client, store)
            }
        }
    }
}

extension TestResponse {
    /// The body decoded as JSON, for assertions.
    public func json<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer: body))
    }

    public var text: String { String(buffer: body) }
}
