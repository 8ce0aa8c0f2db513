import DovetailStore
import Logging
import ServiceLifecycle

/// Purges history older than `HISTORY_RETENTION_DAYS` in the background of `serve`: once at
/// start, then every `interval`, stopping with the server.
public struct RetentionService: Service {
    let store: Store
    let days: Int
    let interval: Duration
    let logger: Logger

    public init(store: Store, days: Int, interval: Duration = .seconds(3600), logger: Logger) {
        self.store = store
        self.days = days
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await store.retention.purge(olderThan: RetentionRepository.cutoff(days: days))
                    if report.events + report.runs + report.sessions > 0 {
                        logger.info("Purged history", metadata: ["events": "\(report.events)", "runs": "\(report.runs)", "sessions": "\(report.sessions)"])
                    }
                } catch {
                    logger.warning("History purge failed; will retry", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
