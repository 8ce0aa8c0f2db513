import DovetailAPI
import DovetailStore
import DovetailTesting
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A client that sends half a request and stops must not hold its connection forever: enough of them
/// exhaust the server's file descriptors, and one delays SIGTERM by the whole shutdown timeout.
@Suite("Half-sent requests")
struct SlowClientTests {
    @Test
    func halfSentRequestsAreClosedAfterTheIdleTimeout() async throws {
        try await TestSupport.withStore(.sqliteMemory) { store in
            var settings = APISettings(host: "127.0.0.1", port: 0)
            settings.connectionIdleTimeout = .seconds(1)
            let app = buildApplication(store: store, settings: settings, logger: TestSupport.logger)
            let finished = Finished()
            do {
                try await app.test(.live) { client in
                let port = try #require(client.port)
                for partial in ["GET /api/projects HTTP/1.1\r\nHost: x\r\n", "POST /api/projects HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"] {
                    let clock = ContinuousClock()
                    let start = clock.now
                    let closed = try await Self.sendAndWaitForClose(partial, port: port, limit: .seconds(10))
                    #expect(closed, "the connection is still open 10 s after a half-sent request: \(partial.debugDescription)")
                    #expect(start.duration(to: clock.now) < .seconds(5))
                }
                // A complete request on a new connection is served as usual. (The test client's own connection sat
                // idle past the 1 s timeout and was closed, so the request goes over a socket of its own.)
                let answer = try await RawStream.read(
                    port: port, path: "/api/projects", headers: ["Connection: close"], until: "\"items\"", timeout: .seconds(5)
                )
                #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer.prefix(200))")
                finished.mark()
                }
            } catch ChannelError.ioOnClosedChannel where finished.isMarked {
                // The live test client closes its own connection at the end; the server already did (idle).
            }
        }
    }

    final class Finished: Sendable {
        private let flag = Atomic<Bool>(false)
        func mark() { flag.store(true, ordering: .relaxed) }
        var isMarked: Bool { flag.load(ordering: .relaxed) }
    }

    @Test
    func theBearerSchemeIsCaseInsensitive() async throws {
        try await TestSupport.withStore(.sqliteMemory) { store in
            let secret = try await store.tokens.create(name: "r", scope: .read).secret
            let app = Application(router: buildRouter(store: store, authRequired: true), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                for scheme in ["Bearer", "bearer", "BEARER"] {
                    let status = try await client.send("/api/projects", .get, headers: [.authorization: "\(scheme) \(secret)"]).status
                    #expect(status == .ok, "\(scheme): \(status)")
                }
            }
        }
    }

    /// Sends `text` and reads until the server closes the connection; false if it is still open after `limit`.
    static func sendAndWaitForClose(_ text: String, port: Int, limit: Duration) async throws -> Bool {
        let channel = try await RawSocket.connect(port: port)
        return try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                // The server closing the connection ends the read, or fails it ("I/O on closed channel"): both mean closed.
                do {
                    try await channel.executeThenClose { inbound, outbound in
                        try await outbound.write(ByteBuffer(string: text))
                        for try await _ in inbound {}
                    }
                } catch {}
                return true
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}

@Suite("HEAD requests")
struct HeadRequestTests {
    /// HEAD is answered as the GET would be, without a body, and needs the GET's scope.
    @Test(arguments: TestBackend.allCases)
    func headIsAnsweredAsGetWithoutABody(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let read = try await store.tokens.create(name: "r", scope: .read).secret
            _ = try await store.projects.create(NewProject(name: "Heads"))
            let router = buildRouter(store: store, authRequired: true)
            let app = Application(responder: router.headAnsweringResponder(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                let auth: HTTPFields = [.authorization: "Bearer \(read)"]
                let get = try await client.send("/api/projects", .get, headers: auth)
                let head = try await client.send("/api/projects", .head, headers: auth)
                #expect(head.status == .ok)
                #expect(head.body.readableBytes == 0)
                #expect(head.headers[.contentType] == get.headers[.contentType])
                #expect(head.headers[.contentLength] == String(get.body.readableBytes))
                #expect(try await client.send("/api/projects", .head).status == .unauthorized)
                #expect(try await client.send("/health", .head).status == .ok)
                #expect(try await client.send("/api/nothing-here", .head, headers: auth).status == .notFound)
            }
        }
    }
}
