import DovetailStore
import DovetailTesting
import Foundation
import HummingbirdTesting
import NIOCore
import NIOPosix
import Testing

@Suite("Session event stream (SSE)")
struct EventStreamTests {
    /// A client that connects after event 1 asks for `after=1`, then 60 events are appended by four
    /// writers at once: the stream must deliver 2…63, in order, with no gap and no repeat.
    @Test(arguments: TestBackend.allCases)
    func streamDeliversEveryEventInOrder(_ backend: TestBackend) async throws {
        try await TestSupport.withClient(backend, live: true) { client, store in
            let port = try #require(client.port)
            let project = try await store.projects.create(NewProject(name: "SSE"))
            let session = try await store.sessions.create(NewSession(projectId: project.id))
            for _ in 1...3 { _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "before")) }

            let reader = Task { try await SSEReader.read(port: port, path: "/api/sessions/\(session.id)/events/stream?after=1", untilID: 63) }
            try await Task.sleep(for: .milliseconds(300))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for step in 0..<15 {
                            _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "live", payload: .object(["w": .integer(Int64(writer)), "s": .integer(Int64(step))])))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let ids = try await reader.value
            #expect(ids == Array(2...63))
        }
    }

    @Test
    func lastEventIDResumesAndUnknownSessionIs404() async throws {
        try await TestSupport.withClient(.sqliteMemory, live: true) { client, store in
            let port = try #require(client.port)
            let project = try await store.projects.create(NewProject(name: "SSE"))
            let session = try await store.sessions.create(NewSession(projectId: project.id))
            for _ in 1...5 { _ = try await store.events.append(sessionId: session.id, NewSessionEvent(type: "e")) }
            let ids = try await SSEReader.read(port: port, path: "/api/sessions/\(session.id)/events/stream", headers: ["Last-Event-ID: 3"], untilID: 5)
            #expect(ids == [4, 5])
            let missing = try await client.execute(uri: "/api/sessions/nope/events/stream", method: .get)
            #expect(missing.status == .notFound)
        }
    }
}

/// Reads an SSE response over a raw socket (the test clients wait for a body to end, and a
/// stream never ends) and returns the `id:` values seen, stopping at `untilID`.
enum SSEReader {
    /// `onID` sees each id the moment it is read, for callers that time deliveries.
    static func read(
        port: Int, path: String, headers: [String] = [], untilID: Int64, timeout: Duration = .seconds(30),
        onID: @escaping @Sendable (Int64) -> Void = { _ in }
    ) async throws -> [Int64] {
        let channel = try await RawSocket.connect(port: port)
        return try await withThrowingTaskGroup(of: [Int64].self) { group in
            group.addTask {
                try await channel.executeThenClose { inbound, outbound in
                    let extra = headers.map { "\($0)\r\n" }.joined()
                    try await outbound.write(ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\(extra)\r\n"))
                    var pending = ""
                    var ids: [Int64] = []
                    for try await chunk in inbound {
                        // "\r\n" is a single Character in Swift; normalise so lines split on "\n".
                        pending += String(buffer: chunk).replacingOccurrences(of: "\r\n", with: "\n")
                        if ProcessInfo.processInfo.environment["SSE_DEBUG"] != nil { print("SSE chunk: \(String(buffer: chunk).debugDescription)") }
                        while let newline = pending.firstIndex(of: "\n") {
                            let line = pending[..<newline].trimmingCharacters(in: .whitespaces)
                            pending = String(pending[pending.index(after: newline)...])
                            if line.hasPrefix("id: "), let id = Int64(line.dropFirst(4)) {
                                ids.append(id)
                                onID(id)
                                if id >= untilID { return ids }
                            }
                        }
                    }
                    return ids
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw CancellationError()
            }
            let result = try await group.next() ?? []
            group.cancelAll()
            return result
        }
    }
}
