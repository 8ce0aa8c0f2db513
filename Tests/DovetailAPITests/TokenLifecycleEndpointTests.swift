import DovetailAPI
import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@Suite("Tokens over their lifetime: streams, revocation, use without writes")
struct TokenLifecycleEndpointTests {
    static func app(_ store: Store) -> some ApplicationProtocol {
        Application(router: buildRouter(store: store, authRequired: true), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    /// An open stream ends with `event: end` naming the reason within a few seconds of its token being
    /// revoked (it re-checks every 2 s), and delivers nothing appended after that.
    @Test(arguments: TestBackend.allCases)
    func revokingATokenEndsItsOpenStreams(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let token = try await store.tokens.create(name: "watcher", scope: .read)
            let project = try await store.projects.create(NewProject(name: "Streams"))
            let session = try await store.sessions.create(NewSession(projectId: project.id))
            _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "before"))
            try await Self.app(store).test(.live) { client in
                let port = try #require(client.port)
                let reader = Task {
                    try await RawStream.read(
                        port: port, path: "/api/sessions/\(session.id)/events/stream", headers: ["Authorization: Bearer \(token.secret)"],
                        until: "event: end", timeout: .seconds(20)
                    )
                }
                try await Task.sleep(for: .milliseconds(500))
                let revokedAt = ContinuousClock.now
                _ = try await store.tokens.revoke(token.token.id)
                try await Task.sleep(for: .milliseconds(2500))
                _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "after-revoke"))
                let text = try await reader.value
                #expect(revokedAt.duration(to: .now) < .seconds(6), "the stream ended \(revokedAt.duration(to: .now)) after the revocation")
                #expect(text.contains("event: before"))
                #expect(text.contains("event: end\ndata: {\"reason\":\"token revoked\"}"), "\(text)")
                #expect(!text.contains("after-revoke"), "an event appended 2.5 s after revocation was delivered")
            }
        }
    }

    /// Names are not unique: revoking by a shared name is refused instead of revoking every token that has it.
    @Test(arguments: TestBackend.allCases)
    func revokingBySharedNameIsRefused(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let admin = try await store.tokens.create(name: "admin", scope: .admin).secret
            let first = try await store.tokens.create(name: "ci", scope: .write)
            let second = try await store.tokens.create(name: "ci", scope: .write)
            let unique = try await store.tokens.create(name: "solo", scope: .read)
            try await Self.app(store).test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(admin)"]
                let shared = try await client.send("/api/tokens/ci", .delete, headers: auth)
                #expect(shared.status == .conflict)
                #expect(try shared.json(ProblemBody.self).detail.contains(first.token.id))
                #expect(try await store.tokens.list().allSatisfy { $0.revokedAt == nil }, "nothing was revoked")
                #expect(try await client.send("/api/tokens/\(first.token.id)", .delete, headers: auth).status == .ok)
                // Now one `ci` is still active: the name picks it out.
                let byName = try await client.send("/api/tokens/ci", .delete, headers: auth)
                #expect(byName.status == .ok)
                #expect(try byName.json(Identified.self).id == second.token.id)
                #expect(try await client.send("/api/tokens/solo", .delete, headers: auth).status == .ok)
                let revoked = try await store.tokens.list().filter { $0.revokedAt != nil }.map(\.id).sorted()
                #expect(revoked == [first.token.id, second.token.id, unique.token.id].sorted())
            }
        }
    }

    /// Authenticating records the token's use without a write in the request: over a database that
    /// refuses every write (a full disk does that to SQLite), authenticated reads still answer 200.
    @Test(arguments: TestBackend.persistent)
    func authenticatedReadsNeedNoWrite(_ backend: TestBackend) async throws {
        try await TestSupport.withDatabaseURL(backend) { url in
            let writable = try await Store.open(url, logger: TestSupport.logger)
            let secret: String
            do {
                try await writable.migrator.migrate(logger: TestSupport.logger)
                _ = try await writable.projects.create(NewProject(name: "Readable"))
                secret = try await writable.tokens.create(name: "reader", scope: .read).secret
            } catch {
                await writable.shutdown()
                throw error
            }
            await writable.shutdown()
            let readOnly = Store(database: try await Database.open(url, readOnly: true, logger: TestSupport.logger))
            let outcome = await TestSupport.capture {
                try await Self.app(readOnly).test(.router) { client in
                    let auth: HTTPFields = [.authorization: "Bearer \(secret)"]
                    for path in ["/api/projects", "/metrics", "/health"] {
                        let response = try await client.send(path, .get, headers: auth)
                        #expect(response.status == .ok, "\(path) on a database that refuses writes: \(response.status) \(response.text)")
                    }
                    #expect(try await client.send("/api/projects", .post, json: #"{"name":"x"}"#, headers: auth).status == .forbidden)
                }
            }
            await readOnly.shutdown()
            try outcome.get()
        }
    }

    /// Uses are written in batches shortly after, and `list` shows them.
    @Test(arguments: TestBackend.allCases)
    func usesAreRecordedInBatches(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let token = try await store.tokens.create(name: "busy", scope: .read)
            try await Self.app(store).test(.router) { client in
                for _ in 0..<5 {
                    let response = try await client.send("/api/projects", .get, headers: [.authorization: "Bearer \(token.secret)"])
                    #expect(response.status == .ok)
                }
            }
            try await Task.sleep(for: .milliseconds(1500))
            let stored = try await store.database.read { sql in
                try await sql.raw("SELECT use_count FROM service_tokens WHERE id = \(bind: token.token.id)").first()?.decode(column: "use_count", as: Int64.self)
            }
            #expect(stored == 5, "written by the background flush, without a list() call")
        }
    }

    /// 401 and 403 are counted as what they are, not as server errors.
    @Test
    func refusalsAreNotCountedAsServerErrors() async throws {
        try await TestSupport.withStore(.sqliteMemory) { store in
            let read = try await store.tokens.create(name: "r", scope: .read).secret
            try await Self.app(store).test(.router) { client in
                #expect(try await client.send("/api/checkpoints/x/best", .post).status == .unauthorized)
                #expect(try await client.send("/api/checkpoints/x/best", .post, headers: [.authorization: "Bearer \(read)"]).status == .forbidden)
                let metrics = try await client.send("/metrics", .get, headers: [.authorization: "Bearer \(read)"]).text
                let lines = metrics.split(separator: "\n").filter { $0.contains("/api/checkpoints/{id}/best") && !$0.hasPrefix("#") }
                #expect(lines.contains { $0.contains("401") }, "\(lines)")
                #expect(lines.contains { $0.contains("403") }, "\(lines)")
                #expect(!lines.contains { $0.contains("\"500\"") }, "\(lines)")
            }
        }
    }
}

/// Reads a streaming response over a raw socket until `marker` appears or `timeout` passes, and returns
/// the text with line endings normalised to "\n".
enum RawStream {
    static func read(port: Int, path: String, headers: [String] = [], until marker: String, timeout: Duration) async throws -> String {
        let channel = try await RawSocket.connect(port: port)
        return try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    let extra = headers.map { "\($0)\r\n" }.joined()
                    try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\(extra)\r\n"))
                    var text = ""
                    for try await chunk in inbound {
                        text += String(buffer: chunk).replacingOccurrences(of: "\r\n", with: "\n")
                        if let range = text.range(of: marker), text[range.upperBound...].contains("\n\n") { return text }
                    }
                    return text
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw CancellationError()
            }
            let result = try await group.next() ?? ""
            group.cancelAll()
            return result
        }
    }
}
