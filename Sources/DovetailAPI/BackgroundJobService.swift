import DovetailStore
import Logging
import ServiceLifecycle

/// Runs one of `serve`'s background jobs at start and then every `interval`, in one replica at a time.
///
/// Each cycle asks the job's `BackgroundJobLock` first. On PostgreSQL only the replica holding the lock runs
/// the job; the others ask again next cycle, so when the holder dies one of them takes over within an
/// interval. On SQLite the job always runs. A failed run is logged and retried next cycle; a graceful stop
/// releases the lock so another replica can take it at once.
public struct BackgroundJobService: Service {
    let lock: BackgroundJobLock
    let interval: Duration
    let logger: Logger
    let work: @Sendable () async throws -> Void

    public init(lock: BackgroundJobLock, interval: Duration, logger: Logger, work: @escaping @Sendable () async throws -> Void) {
        self.lock = lock
        self.interval = interval
        self.logger = logger
        self.work = work
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if await lock.acquire() {
                    do {
                        try await work()
                    } catch where !Task.isCancelled {
                        logger.warning("Background job \(lock.job.rawValue) failed; will retry next cycle", metadata: ["error": "\(error)"])
                    } catch {}
                }
                try? await Task.sleep(for: interval)
            }
        }
        await lock.release()
    }
}
