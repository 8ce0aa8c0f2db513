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
        var id: UInt64
        var job: Job
        var answer: Answer
    }

    /// A job's continuation, resumed once: by its batch, or by its timeout, whichever comes first.
    private final class Answer: Sendable {
        private let continuation: Mutex<CheckedContinuation<Output, any Error>?>
        /// The timeout's timer, cancelled once answered so that no sleeping task outlives its job.
        private let timer = Mutex<Task<Void, Never>?>(nil)
        init(_ continuation: CheckedContinuation<Output, any Error>) { self.continuation = Mutex(continuation) }
        func resume(with result: Result<Output, any Error>) {
            guard let continuation = continuation.withLock({ $0.take() }) else { return }
            continuation.resume(with: result)
            timer.withLock { $0.take() }?.cancel()
        }
        func arm(_ task: Task<Void, Never>) {
            let answered = continuation.withLock { $0 == nil }
            if answered { task.cancel() } else { timer.withLock { $0 = task } }
        }
    }

    private struct State: Sendable {
        var queues: [String: [Pending]] = [:]
        var leading: Set<String> = []
        var nextID: UInt64 = 0
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
    ///
    /// With a `timeout`, the caller gets `timeoutError` once it has waited that long, whether its job is still
    /// queued (it is then dropped) or in a batch that is slow to finish: a board whose batches are stuck
    /// behind an unreachable database must not hold its callers beyond their bound.
    func submit(_ job: Job, key: String, timeout: Duration? = nil, timeoutError: @autoclosure @escaping @Sendable () -> any Error = CancellationError(),
                run: @escaping Run) async throws -> Output {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Output, any Error>) in
            let answer = Answer(continuation)
            let (lead, id) = state.withLock { state -> (Bool, UInt64) in
                state.nextID &+= 1
                state.queues[key, default: []].append(Pending(id: state.nextID, job: job, answer: answer))
                return (state.leading.insert(key).inserted, state.nextID)
            }
            if lead { Task { await self.drain(key, run) } }
            if let timeout {
                answer.arm(Task {
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    self.state.withLock { state in state.queues[key]?.removeAll { $0.id == id } }
                    answer.resume(with: .failure(timeoutError()))
                })
            }
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
                    pending.answer.resume(with: results[index])
                } else {
                    pending.answer.resume(with: .failure(StoreError(.internalFailure, "A batched write returned no result.")))
                }
            }
        }
    }
}
