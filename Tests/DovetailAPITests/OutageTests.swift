import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("PostgreSQL outage through the API")
struct OutageTests {
    /// While the server is down every request is a prompt 503 with `Retry-After`; after it comes
    /// back the same running application serves again, and no committed data was lost.
    @Test
    func requestsDuringOutageAre503AndServiceResumes() async throws {
        let server = try await PostgresTestServer.startDedicated()
        let result = await TestSupport.capture {
            let url = try DatabaseURL(parsing: try await server.createDatabase())
            var pool = PoolSettings()
            pool.timeout = .seconds(5)
            let store = try await Store.open(url, pool: pool, logger: TestSupport.logger)
            let outcome = await TestSupport.capture {
                try await store.migrator.migrate(logger: TestSupport.logger)
                try await TestSupport.application(store: store).test(.router) { client in
                    let project = try await client.send("/api/projects", .post, json: #"{"name":"Kept"}"#).json(Project.self)
                    try await server.stop()
                    for path in ["/api/projects/\(project.id)", "/health"] {
                        let response = try await client.send(path, .get)
                        #expect(response.status == .serviceUnavailable, "\(path): \(response.status)")
                        #expect(response.headers[.retryAfter] != nil)
                        #expect(response.headers[.contentType] == "application/problem+json")
                        #expect(!response.text.contains(server.superuserPassword))
                    }
                    let write = try await client.send("/api/projects", .post, json: #"{"name":"During"}"#)
                    #expect(write.status == .serviceUnavailable)

                    try await server.start()
                    var status = HTTPResponse.Status.serviceUnavailable
                    for _ in 0..<40 where status != .ok {
                        status = try await client.send("/api/projects/\(project.id)", .get).status
                        if status != .ok { try await Task.sleep(for: .milliseconds(250)) }
                    }
                    #expect(status == .ok)
                    let names = try await client.send("/api/projects", .get).json(ListBody<Project>.self).items.map(\.name)
                    #expect(names == ["Kept"])
                }
            }
            await store.shutdown()
            try outcome.get()
        }
        await server.destroy()
        try result.get()
    }
}
