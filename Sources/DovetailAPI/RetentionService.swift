import DovetailStore
import Logging
import ServiceLifecycle

/// Purges history older than `HISTORY_RETENTION_DAYS` in the background of `serve`: once at start, then every
/// `interval` (`RETENTION_INTERVAL`), stopping with the server. With several replicas on one PostgreSQL only
/// the one holding the retention lock purges (`BackgroundJobService`).
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
        let job = BackgroundJobService(lock: store.database.backgroundJobLock(.retention, logger: logger), interval: interval, logger: logger) {
            [store, days, logger] in
            let clock = ContinuousClock()
            let start = clock.now
            let report = try await store.retention.purge(olderThan: RetentionRepository.cutoff(days: days))
            let elapsed = start.duration(to: clock.now)
            // Every run, even one that found nothing: which replica purges, and how often, is visible in the logs.
            logger.info(
                "Purged history",
                metadata: [
                    "events": "\(report.events)", "runs": "\(report.runs)", "sessions": "\(report.sessions)",
                    "ms": "\(Int((elapsed / .milliseconds(1)).rounded()))",
                ]
            )
        }
        try await job.run()
    }
}
