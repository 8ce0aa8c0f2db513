import Synchronization

/// Gives up on connection leases that wait longer than their deadline, with one timer for all of them.
///
/// Why not a timer per lease: each `Task.sleep` arms a timer that stays armed until it fires, so at a few
/// thousand requests a second the process kept tens of thousands of timers alive and woke a thread for
/// each one, just to learn that the lease had long been granted. Here a lease is registered only while it
/// waits for a connection; one loop, running only while something waits, cancels the overdue ones.
final class LeaseWatchdog: Sendable {
    private struct Waiting {
        var deadline: ContinuousClock.Instant
        var cancel: @Sendable () -> Void
    }

    private struct State {
        var waiting: [UInt64: Waiting] = [:]
        var expired: Set<UInt64> = []
        var nextID: UInt64 = 0
        var loopRunning = false
    }

    private let state = Mutex(State())
    private static let tick: Duration = .milliseconds(50)

    /// Runs `lease` in a task of its own that is cancelled if `granted` has not been called within
    /// `timeout`; a lease cancelled that way ends in `PostgresEngine.LeaseTimeout`.
    func run<T: Sendable>(
        timeout: Duration,
        _ lease: @escaping @Sendable (_ granted: @escaping @Sendable () -> Void) async throws -> T
    ) async throws -> T {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        let granted: @Sendable () -> Void = { [self] in
            _ = state.withLock { $0.waiting.removeValue(forKey: id) }
        }
        // Registered before the lease starts: with `Task.immediate` the lease may be granted before
        // `Task.immediate` even returns, and `granted` must find the registration to remove.
        let canceller = Canceller()
        let startLoop = state.withLock { state -> Bool in
            state.waiting[id] = Waiting(deadline: .now + timeout, cancel: { canceller.cancel() })
            defer { state.loopRunning = true }
            return !state.loopRunning
        }
        if startLoop { Task { await self.loop() } }
        // `immediate`: the lease starts on this thread instead of waiting for a turn on the executor.
        let task = Task.immediate { try await lease(granted) }
        canceller.attach { task.cancel() }
        do {
            let value = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
            forget(id)
            return value
        } catch {
            if forget(id) { throw PostgresEngine.LeaseTimeout() }
            throw error
        }
    }

    /// Removes every trace of lease `id`; true when the watchdog had cancelled it.
    @discardableResult
    private func forget(_ id: UInt64) -> Bool {
        state.withLock { state in
            state.waiting.removeValue(forKey: id)
            return state.expired.remove(id) != nil
        }
    }

    private func loop() async {
        while true {
            try? await Task.sleep(for: Self.tick)
            let now = ContinuousClock.now
            let (overdue, keepRunning) = state.withLock { state -> ([@Sendable () -> Void], Bool) in
                var overdue: [@Sendable () -> Void] = []
                for (id, waiting) in state.waiting where waiting.deadline <= now {
                    overdue.append(waiting.cancel)
                    state.waiting.removeValue(forKey: id)
                    state.expired.insert(id)
                }
                if state.waiting.isEmpty { state.loopRunning = false }
                return (overdue, !state.waiting.isEmpty)
            }
            for cancel in overdue { cancel() }
            if !keepRunning { return }
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
