import Synchronization

/// Runs concurrent jobs that share a key in batches: the first job to arrive starts a leader, which
/// takes every job queued for that key (up to `maximumBatch`), runs them together, and repeats until
/// none is left.
///
/// Why: appends to one board are serialised (SQLite's single writer, PostgreSQL's board lock), so under
/// load they queue, and each one pays for its own round trips and hand-offs while holding the board.
/// A batch pays for them once; the queue empties at the rate of batches, not of single rows.
final class BatchingQueue<Job: Sendable, Output: Sendable>: Sendable {
    typealias Run = @Sendable ([Job]) async -> [Result<Output, any Error>]

    private struct Pending: Sendable {
        var job: Job
        var continuation: CheckedContinuation<Output, any Error>
    }

    private struct State: Sendable {
        var queues: [String: [Pending]] = [:]
        var leading: Set<String> = []
    }

    private let state = Mutex(State())
    let maximumBatch: Int
    /// Jobs with the same identity never share a batch: a later one waits, in order, for the next batch.
    private let identity: (@Sendable (Job) -> String)?
    /// The most jobs one batch has held; tests read it to know that batching really happened.
    let largestBatch = Atomic<Int>(0)

    init(maximumBatch: Int = 100, identity: (@Sendable (Job) -> String)? = nil) {
        self.maximumBatch = maximumBatch
        self.identity = identity
    }

    /// Queues `job` under `key` and waits for its result. `run` gets a batch and returns one result per
    /// job, in order; it is called by one leader at a time per key.
    func submit(_ job: Job, key: String, run: @escaping Run) async throws -> Output {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
            let lead = state.withLock { state -> Bool in
                state.queues[key, default: []].append(Pending(job: job, continuation: continuation))
                return state.leading.insert(key).inserted
            }
            if lead { Task { await self.drain(key, run) } }
        }
    }

    private func drain(_ key: String, _ run: Run) async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                let queued = state.queues[key] ?? []
                var batch: [Pending] = []
                var rest: [Pending] = []
                var identities: Set<String> = []
                for pending in queued {
                    if batch.count < maximumBatch, identity.map({ identities.insert($0(pending.job)).inserted }) ?? true {
                        batch.append(pending)
                    } else {
                        rest.append(pending)
                    }
                }
                state.queues[key] = rest.isEmpty ? nil : rest
                if batch.isEmpty { state.leading.remove(key) }
                return batch
            }
            if batch.isEmpty { return }
            largestBatch.max(batch.count, ordering: .relaxed)
            let results = await run(batch.map(\.job))
            for (index, pending) in batch.enumerated() {
                if index < results.count {
                    pending.continuation.resume(with: results[index])
                } else {
                    pending.continuation.resume(throwing: StoreError(.internalFailure, "A batched write returned no result."))
                }
            }
        }
    }
}
