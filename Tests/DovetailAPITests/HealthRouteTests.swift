import DovetailAPI
import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// `/health/live` and `/health/ready`, the routes orchestrators probe (issue 12, issue 14), and the version in
/// `/health`. The database being down is covered with real processes in `HealthCommandTests`.
@Suite("Health routes: liveness, readiness, version")
struct HealthRouteTests {
    static func keys(_ response: TestResponse) throws -> Set<String> {
        Set(try #require(try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]).keys)
    }

    /// On an up-to-date database both answer 200 `{"status":"ok"}`, and `/health` names this release.
    @Test(arguments: TestBackend.allCases)
    func liveAndReadyAnswerOkOnAMigratedDatabase(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend) { client, _ in
            for path in ["/health/live", "/health/ready"] {
                let response = try await client.send(path, .get)
                #expect(response.status == .ok, "\(path): \(response.status) \(response.text)")
                #expect(response.headers[.contentType] == "application/json")
                #expect(try response.json([String: String].self) == ["status": "ok"], "\(path): \(response.text)")
            }
            let health = try await client.send("/health", .get)
            #expect(try health.json(HealthVersion.self).version == DovetailVersion.current)
        }
    }

    /// Pending migrations: not ready (503 problem+json with `Retry-After`), yet live, and `/health` still 200
    /// (it reports the state); once migrated, ready.
    @Test(arguments: TestBackend.allCases)
    func pendingMigrationsAreNotReady(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend, migrate: false) { store in
            try await TestSupport.application(store: store).test(.router) { client in
                let ready = try await client.send("/health/ready", .get)
                #expect(ready.status == .serviceUnavailable)
                #expect(ready.headers[.contentType] == "application/problem+json")
                #expect(ready.headers[.retryAfter] == "5")
                let problem = try ready.json(ProblemBody.self)
                #expect(problem.type == "/problems/migrations-pending")
                #expect(problem.detail.contains("\(Migrations.latestVersion) migration(s) pending"), "\(problem.detail)")
                #expect(try await client.send("/health/live", .get).status == .ok)
                #expect(try await client.send("/health", .get).status == .ok)

                try await store.migrator.migrate(logger: TestSupport.logger)
                #expect(try await client.send("/health/ready", .get).status == .ok)
            }
        }
    }

    /// With authentication required both stay open; anonymous callers learn only the status, and the version
    /// in `/health` only with a token.
    @Test(arguments: [TestBackend.sqliteMemory, .postgres])
    func probesAreOpenAndShowOnlyAStatus(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let read = try await store.tokens.create(name: "reader", scope: .read).secret
            let app = Application(router: buildRouter(store: store, authRequired: true), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                for path in ["/health/live", "/health/ready"] {
                    let response = try await client.send(path, .get)
                    #expect(response.status == .ok, "\(path) should be open: \(response.status)")
                    #expect(try Self.keys(response) == ["status"])
                }
                #expect(try Self.keys(try await client.send("/health", .get)) == ["status", "backend"])
                let withToken = try await client.send("/health", .get, headers: [.authorization: "Bearer \(read)"])
                #expect(try withToken.json(HealthVersion.self).version == DovetailVersion.current)
            }
        }
    }

    struct HealthVersion: Decodable {
        var version: String?
    }
}
