import Synchronization

/// Bounds how long a database operation may take, with one timer for all of them: first the wait for a
/// pooled connection (the lease), then, once the connection is granted, the work on it.
///
/// Why one timer: each `Task.sleep` arms a timer that stays armed until it fires, so at a few thousand
/// requests a second the process kept tens of thousands of timers alive and woke a thread for each one.
/// Here an operation is registered only while it waits or runs; one loop, running only while something
/// is registered, expires the overdue ones.
///
/// Why the caller is answered without waiting for the operation to unwind: a driver call that ignores
/// cancellation (a connection attempt, a statement sent to a server that stopped answering) would hold
/// the request — and every request queued behind it — for as long as the TCP connection lives. An
/// expired operation's caller gets its error at the deadline; the operation is cancelled, and its
/// connection is closed so the pool replaces it.
final class LeaseWatchdog: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var started = ContinuousClock.now
        /// Set once the connection is granted; the operation then runs under `executionLimit`.
        var running = false
        var expire: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
        var loopRunning = false
    }

    private let state = Mutex(State())
    private static let tick: Duration = .milliseconds(50)
    /// A lease waiting this long may mean the server is gone: `onSlowWait` is told (every tick while it lasts).
    private static let slowWait: Duration = .milliseconds(250)
    private let slowWaitHandler = Mutex<(@Sendable () -> Void)?>(nil)

    /// What to do when a lease has waited longer than a healthy pool ever makes one wait.
    func onSlowWait(_ handler: @escaping @Sendable () -> Void) {
        slowWaitHandler.withLock { $0 = handler }
    }

    /// Runs `operation` in a task of its own. It must call `granted` as soon as it holds a connection,
    /// passing how to abort work on that connection; `granted` returns false when the lease has already
    /// expired, and the operation must then do nothing (its caller has been told it failed).
    ///
    /// Errors: `PostgresEngine.LeaseTimeout` when no connection came within `leaseTimeout`,
    /// `PostgresEngine.ExecutionTimeout` when the work outlived `executionLimit` (nil: no limit, for
    /// bulk work such as `COPY`), otherwise whatever `operation` threw. `totalLimit` caps the wait and the
    /// work together, so an operation granted late gets only what is left of it.
    func run<T: Sendable>(
        leaseTimeout: Duration,
        executionLimit: Duration?,
        totalLimit: Duration? = nil,
        _ operation: @escaping @Sendable (_ granted: @escaping @Sendable (_ abort: @escaping @Sendable () -> Void) -> Bool) async throws -> T
    ) async throws -> T {
        let outcome = Outcome<T>()
        let canceller = Canceller()
        let overallDeadline = totalLimit.map { ContinuousClock.now + $0 }
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        // Registered before the operation starts: with `Task.immediate` the lease may be granted before
        // `Task.immediate` even returns, and `granted` must find the registration.
        let startLoop = state.withLock { state -> Bool in
            state.entries[id] = Entry(deadline: .now + leaseTimeout) {
                outcome.resolve(.failure(PostgresEngine.LeaseTimeout()))
                canceller.cancel()
            }
            defer { state.loopRunning = true }
            return !state.loopRunning
        }
        if startLoop { Task { await self.loop() } }

        let granted: @Sendable (@escaping @Sendable () -> Void) -> Bool = { [self] abort in
            state.withLock { state -> Bool in
                guard state.entries[id] != nil else { return false }
                guard let executionLimit else {
                    state.entries.removeValue(forKey: id)
                    return true
                }
                var deadline = ContinuousClock.now + executionLimit
                if let overallDeadline, overallDeadline < deadline { deadline = overallDeadline }
                state.entries[id] = Entry(deadline: deadline, running: true) {
                    outcome.resolve(.failure(PostgresEngine.ExecutionTimeout()))
                    canceller.cancel()
                    abort()
                }
                return true
            }
        }
        // `immediate`: the operation starts on this thread instead of waiting for a turn on the executor.
        let task = Task.immediate {
            let result: Result<T, any Error>
            do { result = .success(try await operation(granted)) } catch { result = .failure(error) }
            self.forget(id)
            outcome.resolve(result)
        }
        canceller.attach { task.cancel() }
        // A cancelled caller (graceful shutdown, a client gone) is answered at once, not when the driver lets go.
        return try await withTaskCancellationHandler { try await outcome.value } onCancel: {
            task.cancel()
            outcome.resolve(.failure(CancellationError()))
        }
    }

    private func forget(_ id: UInt64) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Expires every operation still waiting for a connection, at once: called when the server is found
    /// unreachable, so that requests queued before anyone knew answer now instead of at their deadline.
    func expireWaiting() {
        let expired = state.withLock { state -> [@Sendable () -> Void] in
            var expired: [@Sendable () -> Void] = []
            for (id, entry) in state.entries where !entry.running {
                expired.append(entry.expire)
                state.entries.removeValue(forKey: id)
            }
            return expired
        }
        for expire in expired { expire() }
    }

    private func loop() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = ContinuousClock.now
            let (overdue, keepRunning, slow) = state.withLock { state -> ([@Sendable () -> Void], Bool, Bool) in
                var overdue: [@Sendable () -> Void] = []
                var slow = false
                for (id, entry) in state.entries {
                    if entry.deadline <= now {
                        overdue.append(entry.expire)
                        state.entries.removeValue(forKey: id)
                    } else if !entry.running && entry.started.duration(to: now) >= Self.slowWait {
                        slow = true
                    }
                }
                if state.entries.isEmpty { state.loopRunning = false }
                return (overdue, !state.entries.isEmpty, slow)
            }
            for expire in overdue { expire() }
            if slow, let handler = slowWaitHandler.withLock({ $0 }) { handler() }
            if !keepRunning { return }
        }
    }
}

/// The result of an operation, delivered once: by the operation when it finishes, or by the watchdog
/// when it expires, whichever comes first. The caller may start waiting before or after either.
private final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var continuation: CheckedContinuation<T, any Error>?
    }

    private let state = Mutex(State())

    func resolve(_ result: Result<T, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
            guard state.result == nil else { return nil }
            state.result = result
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
    }

    var value: T {
        get async throws {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let ready = state.withLock { state -> Result<T, any Error>? in
                    if let result = state.result { return result }
                    state.continuation = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        }
    }
}

/// Cancels a task that may not exist yet: a cancellation asked for before `attach` runs at `attach`.
private final class Canceller: Sendable {
    private let state = Mutex<(cancel: (@Sendable () -> Void)?, requested: Bool)>((nil, false))

    func cancel() {
        let cancel = state.withLock { state -> (@Sendable () -> Void)? in
            state.requested = true
            return state.cancel
        }
        cancel?()
    }

    func attach(_ cancel: @escaping @Sendable () -> Void) {
        let requested = state.withLock { state -> Bool in
            state.cancel = cancel
            return state.requested
        }
        if requested { cancel() }
    }
}
