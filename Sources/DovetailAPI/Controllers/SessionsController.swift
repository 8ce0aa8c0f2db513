import DovetailStore
import Foundation
import Hummingbird
import ServiceLifecycle
import Synchronization

struct SessionsController {
    let store: Store
    /// How often a live stream re-reads the database when nothing woke it, so that events appended through
    /// another `serve` instance still arrive: on SQLite, and on PostgreSQL while the listener reconnects.
    var pollInterval: Duration = .seconds(1)
    /// The same while this process's PostgreSQL listener is subscribed: other instances' appends wake the
    /// stream as they commit, so the poll is only a safety net (and notices a deleted session).
    var listeningPollInterval: Duration = .seconds(5)
    var heartbeatInterval: Duration = .seconds(15)
    /// How often a stream opened with a service token checks that the token is still valid, so that
    /// revoking a token also ends the streams it opened.
    var tokenCheckInterval: Duration = .seconds(2)

    func addRoutes(to group: RouterGroup<AppRequestContext>) {
        group.post { request, context in
            let input = try await APIJSON.decode(NewSession.self, from: request, context: context)
            return try APIJSON.response(try await store.sessions.create(input), status: .created)
        }
        group.get { request, _ in
            let filter = SessionFilter(
                status: try request.enumQuery("status", as: SessionStatus.self),
                metadata: try MetadataFilter.parse(request.stringQuery("metadata")),
                createdAfter: try request.timestampQuery("created_after"),
                createdBefore: try request.timestampQuery("created_before")
            )
            return try APIJSON.response(
                try await store.sessions.list(
                    projectId: request.stringQuery("project_id"), agentId: request.stringQuery("agent_id"), filter: filter, try request.pageRequest()
                )
            )
        }
        group.get("{id}") { _, context in
            try APIJSON.response(try await store.sessions.get(try context.parameters.require("id")))
        }
        group.patch("{id}") { request, context in
            let patch = try await APIJSON.decode(SessionPatch.self, from: request, context: context)
            return try APIJSON.response(try await store.sessions.update(try context.parameters.require("id"), patch))
        }
        group.delete("{id}") { _, context in
            try await store.sessions.delete(try context.parameters.require("id"))
            return APIJSON.empty()
        }
        group.post("{id}/messages") { request, context in
            let input = try await APIJSON.decode(NewMessage.self, from: request, context: context)
            return try APIJSON.response(try await store.messages.append(sessionId: try context.parameters.require("id"), input), status: .created)
        }
        group.get("{id}/messages") { request, context in
            try APIJSON.response(try await store.messages.list(sessionId: try context.parameters.require("id"), try request.pageRequest()))
        }
        group.post("{id}/events") { request, context in
            let input = try await APIJSON.decode(NewSessionEvent.self, from: request, context: context)
            return try APIJSON.response(try await store.events.append(sessionId: try context.parameters.require("id"), input), status: .created)
        }
        group.get("{id}/events") { request, context in
            let events = try await store.events.list(
                sessionId: try context.parameters.require("id"),
                after: Int64(try request.integerQuery("after") ?? 0),
                limit: try request.integerQuery("limit") ?? 100
            )
            return try APIJSON.response(EventList(items: events, lastSeq: events.last?.seq))
        }
        group.get("{id}/events/stream") { request, context in
            try await stream(request: request, sessionId: try context.parameters.require("id"), caller: context.caller)
        }
    }

    struct EventList: Encodable {
        var items: [SessionEvent]
        var lastSeq: Int64?

        enum CodingKeys: String, CodingKey {
            case items
            case lastSeq = "last_seq"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(items, forKey: .items)
            try container.encode(lastSeq, forKey: .lastSeq)
        }
    }

    /// Server-sent events: every event with `seq` above `?after=` (or `Last-Event-ID`), then each new
    /// one as it is appended, in order. Each SSE `id` is the event's `seq`, so a reconnecting client
    /// resumes exactly where it stopped.
    ///
    /// A stream opened with a service token ends with `event: end` (reason `token revoked` or `token
    /// expired`) within `tokenCheckInterval` of the token ceasing to be valid.
    func stream(request: Request, sessionId: String, caller: Caller) async throws -> Response {
        let resumeFrom = request.headers[.init("Last-Event-ID")!].flatMap { Int64($0) }
        let after = try Int64(request.integerQuery("after") ?? 0)
        guard after >= 0 else { throw Problem.validation("after must be zero or more.", field: "after") }
        let start = max(after, resumeFrom ?? 0)
        // Fail before streaming when the session is unknown, so the client gets a 404, not an empty stream.
        _ = try await store.sessions.get(sessionId)
        let store = self.store
        let pollInterval = self.pollInterval
        let listeningPollInterval = self.listeningPollInterval
        let tokenCheckInterval = self.tokenCheckInterval
        let heartbeatInterval = self.heartbeatInterval
        let tokenCheck = caller.token.map { TokenValidityCheck(token: $0, tokens: store.tokens, interval: tokenCheckInterval) }
        let body = ResponseBody { writer in
            store.listenForEvents()
            store.notifier.watch(sessionId: sessionId)
            defer { store.notifier.unwatch(sessionId: sessionId) }
            var last = start
            var lastWrite = ContinuousClock.now
            try await writer.write(ByteBuffer(string: ": connected\n\n"))
            // Ends on graceful shutdown too, so SIGTERM is not held up by open streams; clients
            // reconnect elsewhere with Last-Event-ID.
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if let reason = await tokenCheck?.endReason() {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"reason\":\"\(reason)\"}\n\n"))
                    break
                }
                let seen = store.notifier.version(of: sessionId)
                let events: [SessionEvent]
                do {
                    events = try await store.events.list(sessionId: sessionId, after: last, limit: 500)
                } catch let error as StoreError where error.kind == .notFound {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"reason\":\"session deleted\"}\n\n"))
                    break
                } catch let error as StoreError where error.kind == .unavailable {
                    try await Task.sleep(for: pollInterval)
                    continue
                }
                for event in events {
                    let data = try APIJSON.encoder.encode(event)
                    var buffer = ByteBuffer(string: "id: \(event.seq)\nevent: \(Self.eventName(event.type))\ndata: ")
                    buffer.writeBytes(data)
                    buffer.writeString("\n\n")
                    try await writer.write(buffer)
                    last = event.seq
                    lastWrite = .now
                }
                if events.count == 500 { continue }
                if lastWrite.duration(to: .now) >= heartbeatInterval {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = .now
                }
                // A token stream wakes at least as often as its token is checked, so a revoked token ends it in time.
                var timeout = store.notifier.hearsOtherProcesses ? listeningPollInterval : pollInterval
                if tokenCheck != nil { timeout = min(timeout, tokenCheckInterval) }
                await store.notifier.wait(sessionId: sessionId, seen: seen, timeout: timeout)
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: body
        )
    }

    /// SSE event names cannot hold line breaks; anything else of the type is kept.
    static func eventName(_ type: String) -> String {
        type.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
    }
}

/// Re-checks, at most once per interval, that the token a stream was opened with still authenticates.
/// Expiry is known without asking the database; revocation is read from it. While the database is
/// unreachable the stream keeps its last verdict: it reads nothing new then anyway.
private final class TokenValidityCheck: Sendable {
    private let token: ServiceToken
    private let tokens: TokenRepository
    private let interval: Duration
    private let lastCheck = Mutex(ContinuousClock.now)

    init(token: ServiceToken, tokens: TokenRepository, interval: Duration) {
        self.token = token
        self.tokens = tokens
        self.interval = interval
    }

    /// nil while the token is valid; otherwise why the stream ends.
    func endReason() async -> String? {
        if let expiresAt = token.expiresAt, expiresAt <= .now() { return "token expired" }
        let due = lastCheck.withLock { last -> Bool in
            guard last.duration(to: .now) >= interval else { return false }
            last = .now
            return true
        }
        guard due else { return nil }
        do {
            guard let current = try await tokens.current(id: token.id) else { return "token revoked" }
            return current.revokedAt != nil ? "token revoked" : nil
        } catch {
            return nil
        }
    }
}
