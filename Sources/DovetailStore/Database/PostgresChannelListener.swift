import Logging
import PostgresNIO
import Synchronization

/// `LISTEN` on one channel over a dedicated connection (never one of the pool's: a pooled connection is
/// handed to requests and recycled, and a listening one must stay put), reconnecting with backoff for as long
/// as the process runs.
///
/// Every (re)subscription reports `.listening`, after the server acknowledged `LISTEN`: its owner then re-reads
/// what it watches, which picks up whatever was committed while no one listened, and every later commit is
/// announced. A connection that goes silent (a dropped network, a frozen host) is found by a ping every
/// `pingInterval` that must be answered within `pingTimeout`.
final class PostgresChannelListener: ChannelListener {
    private let channel: String
    private let connect: @Sendable () async throws -> PostgresConnection
    private let handler: @Sendable (ChannelEvent) -> Void
    private let logger: Logger
    private let address: String
    private let state = Mutex(State())

    private struct State {
        var task: Task<Void, Never>?
        var connection: PostgresConnection?
        var listening = false
        var stopped = false
    }

    static let initialBackoff: Duration = .milliseconds(100)
    static let maximumBackoff: Duration = .seconds(2)
    static let pingInterval: Duration = .seconds(15)
    static let pingTimeout: Duration = .seconds(5)
    /// How long `shutdown` waits for the listening task to end after closing its connection.
    static let shutdownWait: Duration = .seconds(2)

    init(
        channel: String, address: String, logger: Logger,
        connect: @escaping @Sendable () async throws -> PostgresConnection,
        handler: @escaping @Sendable (ChannelEvent) -> Void
    ) {
        self.channel = channel
        self.address = address
        self.logger = logger
        self.connect = connect
        self.handler = handler
    }

    var isListening: Bool { state.withLock { $0.listening } }

    func start() {
        state.withLock { state in
            guard state.task == nil, !state.stopped else { return }
            state.task = Task { await self.run() }
        }
    }

    func shutdown() async {
        let (task, connection) = state.withLock { state in
            state.stopped = true
            state.listening = false
            return (state.task, state.connection)
        }
        task?.cancel()
        // Closing the socket ends whatever the task waits for (an acknowledgement, a notification, a ping).
        try? await connection?.close()
        if let task { await Self.wait(for: task, atMost: Self.shutdownWait) }
    }

    private func run() async {
        var backoff = Self.initialBackoff
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await connect()
                guard adopt(connection) else {
                    try? await connection.close()
                    return
                }
                try await connection.listen(on: channel) { notifications in
                    state.withLock { $0.listening = true }
                    if failures > 0 { logger.info("Listening for live events on PostgreSQL at \(address) again.") }
                    failures = 0
                    backoff = Self.initialBackoff
                    handler(.listening)
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { [handler] in
                            for try await notification in notifications { handler(.notification(notification.payload)) }
                            throw ConnectionEnded()
                        }
                        group.addTask { try await Self.keepPinging(connection) }
                        _ = try await group.next()
                    }
                }
            } catch {
                if Task.isCancelled { break }
                let wasListening = await release()
                if wasListening {
                    logger.warning("Lost the live-event connection to PostgreSQL at \(address); streams poll every second until it reconnects.")
                    handler(.lost)
                } else if failures == 0 {
                    logger.warning("Cannot listen for live events on PostgreSQL at \(address) (\(Self.describe(error))); streams poll every second, retrying.")
                }
                failures += 1
            }
            _ = await release()
            guard (try? await Task.sleep(for: Self.jittered(backoff))) != nil else { break }
            backoff = min(backoff * 2, Self.maximumBackoff)
        }
        _ = await release()
    }

    /// Records the connection so `shutdown` can close it; false when shutdown already began.
    private func adopt(_ connection: PostgresConnection) -> Bool {
        state.withLock { state in
            guard !state.stopped else { return false }
            state.connection = connection
            return true
        }
    }

    /// Forgets and closes the current connection; returns whether it was listening. Waits for the close:
    /// PostgresNIO requires a connection to be closed before its last reference goes.
    private func release() async -> Bool {
        let (connection, wasListening) = state.withLock { state in
            defer {
                state.connection = nil
                state.listening = false
            }
            return (state.connection, state.listening)
        }
        if let connection { try? await connection.close() }
        return wasListening
    }

    /// Pings until a ping goes unanswered for `pingTimeout`; then closes the connection, which ends the listen.
    private static func keepPinging(_ connection: PostgresConnection) async throws {
        while true {
            try await Task.sleep(for: pingInterval)
            let watchdog = Task {
                try await Task.sleep(for: pingTimeout)
                try? await connection.close()
            }
            defer { watchdog.cancel() }
            _ = try await connection.query("SELECT 1", logger: silentLogger).collect()
        }
    }

    private static let silentLogger = Logger(label: "dovetail.postgres.listener", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Up to a quarter more or less, so replicas that lost the server together do not reconnect in lockstep.
    private static func jittered(_ delay: Duration) -> Duration {
        delay * Double.random(in: 0.75...1.25)
    }

    private static func describe(_ error: any Error) -> String {
        guard let psqlError = error as? PSQLError else { return "\(type(of: error))" }
        if let message = psqlError.serverInfo?[.message] { return message }
        return "\(psqlError.code)"
    }

    /// Waits for `task` to end, but no longer than `limit`: a shutdown must never hang on the network.
    private static func wait(for task: Task<Void, Never>, atMost limit: Duration) async {
        let finished = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let resume: @Sendable () -> Void = {
            finished.withLock { continuation in
                continuation?.resume()
                continuation = nil
            }
        }
        var waiters: [Task<Void, Never>] = []
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            finished.withLock { $0 = continuation }
            waiters.append(Task {
                await task.value
                resume()
            })
            waiters.append(Task {
                try? await Task.sleep(for: limit)
                resume()
            })
        }
        for waiter in waiters { waiter.cancel() }
    }

    struct ConnectionEnded: Error {}
}
