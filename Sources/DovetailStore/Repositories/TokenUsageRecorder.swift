import SQLKit
import Synchronization

/// Counts token uses in memory and writes them in one batch a second later, best effort.
///
/// Why not a write per request: authentication would make every read depend on a write — with
/// SQLite's disk full, `GET /api/projects` and `/metrics` failed with 503 although they need no space —
/// and would put one write per request on the single writer. A failed batch is kept and retried with
/// the next one; the request that used the token never sees it.
public final class TokenUsageRecorder: Sendable {
    struct Use: Sendable {
        var count: Int64
        var lastUsedAt: Timestamp
    }

    private struct State {
        var pending: [String: Use] = [:]
        var flushScheduled = false
    }

    private let state = Mutex(State())
    let delay: Duration

    public init(delay: Duration = .seconds(1)) {
        self.delay = delay
    }

    /// Notes one use of token `id`; a flush into `database` follows within `delay`.
    func record(_ id: String, at time: Timestamp, database: Database) {
        let schedule = state.withLock { state -> Bool in
            var use = state.pending[id] ?? Use(count: 0, lastUsedAt: time)
            use.count += 1
            use.lastUsedAt = max(use.lastUsedAt, time)
            state.pending[id] = use
            defer { state.flushScheduled = true }
            return !state.flushScheduled
        }
        if schedule { scheduleFlush(database, after: delay) }
    }

    private func scheduleFlush(_ database: Database, after delay: Duration) {
        Task {
            try? await Task.sleep(for: delay)
            self.state.withLock { $0.flushScheduled = false }
            if await !self.flush(database) {
                // Retry later (the disk may stay full for a while) unless a new use scheduled a flush already.
                let retry = self.state.withLock { state -> Bool in
                    defer { state.flushScheduled = true }
                    return !state.flushScheduled
                }
                if retry { self.scheduleFlush(database, after: .seconds(10)) }
            }
        }
    }

    /// Writes every pending use now. A failure puts them back for the next flush and is not thrown:
    /// usage counts are bookkeeping, never a reason to fail a caller.
    @discardableResult
    func flush(_ database: Database) async -> Bool {
        let taken = state.withLock { state -> [String: Use] in
            defer { state.pending = [:] }
            return state.pending
        }
        guard !taken.isEmpty else { return true }
        do {
            try await database.write { sql in
                for (id, use) in taken.sorted(by: { $0.key < $1.key }) {
                    try await sql.raw("""
                        UPDATE service_tokens SET use_count = use_count + \(bind: use.count),
                            last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < \(bind: use.lastUsedAt) THEN \(bind: use.lastUsedAt) ELSE last_used_at END
                        WHERE id = \(bind: id)
                        """).run()
                }
            }
            return true
        } catch {
            state.withLock { state in
                for (id, use) in taken {
                    var merged = state.pending[id] ?? Use(count: 0, lastUsedAt: use.lastUsedAt)
                    merged.count += use.count
                    merged.lastUsedAt = max(merged.lastUsedAt, use.lastUsedAt)
                    state.pending[id] = merged
                }
            }
            return false
        }
    }
}
