import NIOCore
import NIOPosix
import Synchronization

/// Finds out quickly whether the PostgreSQL server is down, so that requests waiting for a connection
/// can be answered 503 at once instead of at the end of the pool timeout.
///
/// Why a probe of its own: PostgresNIO's pool keeps retrying a refused connection with backoff and never
/// tells the requests that wait for one, so without it a stopped server looks like a busy pool and every
/// request waits out `POSTGRES_POOL_TIMEOUT` (30 s by default). A TCP connection refused (or not made
/// within a second) is a certain sign; a server that accepts TCP connections is left to the pool.
final class ServerReachability: Sendable {
    private let host: String
    private let port: Int
    private let unixSocketPath: String?
    private let probing = Atomic<Bool>(false)
    private let lastProbe = Mutex<ContinuousClock.Instant?>(nil)
    private static let minimumInterval: Duration = .milliseconds(500)

    init(info: PostgresConnectionInfo) {
        self.host = info.host
        self.port = info.port
        self.unixSocketPath = info.unixSocketPath
    }

    /// Probes unless a probe runs or ran within the last half second; calls `unreachable` when the
    /// server refuses or ignores a TCP connection.
    func check(unreachable: @escaping @Sendable () -> Void) {
        let due = lastProbe.withLock { last -> Bool in
            if let last, last.duration(to: .now) < Self.minimumInterval { return false }
            last = .now
            return true
        }
        guard due, probing.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        Task {
            defer { probing.store(false, ordering: .releasing) }
            if await !self.accepts() { unreachable() }
        }
    }

    private func accepts() async -> Bool {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(1))
        do {
            let channel: any Channel
            if let unixSocketPath {
                channel = try await bootstrap.connect(unixDomainSocketPath: unixSocketPath).get()
            } else {
                channel = try await bootstrap.connect(host: host, port: port).get()
            }
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}
