import Synchronization

/// Wakes live event streams in this process when an event is appended, here or (on PostgreSQL, through
/// `LiveEventFeed`) by another `dovetail serve` process.
///
/// The database stays the source of truth: a woken stream re-reads `seq > last` from it, so a wake-up too
/// many costs a read and never duplicates an event. Streams also poll on a timer, for whatever no wake-up
/// announces (another process on SQLite, a PostgreSQL listener that is reconnecting).
public final class SessionEventNotifier: Sendable {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        /// Only sessions that a stream watches are tracked, so the maps stay as small as the
        /// number of open streams however many sessions see events.
        var watchers: [String: Int] = [:]
        var versions: [String: Int] = [:]
        var waiters: [String: [Waiter]] = [:]
        var nextWaiterID = 0
    }

    private let state = Mutex(State())
    private let crossProcess = Atomic<Bool>(false)

    public init() {}

    /// Starts tracking a session for a stream; balance with `unwatch`.
    public func watch(sessionId: String) {
        state.withLock { $0.watchers[sessionId, default: 0] += 1 }
    }

    public func unwatch(sessionId: String) {
        state.withLock { state in
            let remaining = (state.watchers[sessionId] ?? 1) - 1
            if remaining > 0 {
                state.watchers[sessionId] = remaining
            } else {
                state.watchers[sessionId] = nil
                state.versions[sessionId] = nil
            }
        }
    }

    /// A counter that changes whenever an event is appended to a watched session.
    public func version(of sessionId: String) -> Int {
        state.withLock { $0.versions[sessionId] ?? 0 }
    }

    public func didAppend(sessionId: String) {
        let waiters = state.withLock { state -> [Waiter] in
            guard state.watchers[sessionId] != nil else { return [] }
            state.versions[sessionId, default: 0] += 1
            return state.waiters.removeValue(forKey: sessionId) ?? []
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Wakes every watched stream, so each re-reads from its last seq: after a cross-process listener
    /// (re)subscribed, when appends made while it was away were announced to no one.
    func wakeAll() {
        let waiters = state.withLock { state -> [Waiter] in
            for sessionId in state.watchers.keys { state.versions[sessionId, default: 0] += 1 }
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap { $0 }
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// True while appends made by other processes wake streams as they commit (PostgreSQL with a healthy
    /// listener), so streams may poll rarely; false on SQLite and while the listener is down.
    public var hearsOtherProcesses: Bool { crossProcess.load(ordering: .relaxed) }

    func setHearsOtherProcesses(_ value: Bool) {
        crossProcess.store(value, ordering: .relaxed)
    }

    /// Returns when the session's version differs from `seen`, or after `timeout`.
    public func wait(sessionId: String, seen: Int, timeout: Duration) async {
        let waiterID = state.withLock { state -> Int in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if (state.versions[sessionId] ?? 0) != seen { return true }
                        state.waiters[sessionId, default: []].append(Waiter(id: waiterID, continuation: continuation))
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.cancelWaiter(sessionId: sessionId, id: waiterID)
            }
            await group.next()
            group.cancelAll()
            self.cancelWaiter(sessionId: sessionId, id: waiterID)
        }
    }

    private func cancelWaiter(sessionId: String, id: Int) {
        let waiter = state.withLock { state -> Waiter? in
            guard var list = state.waiters[sessionId], let index = list.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = list.remove(at: index)
            state.waiters[sessionId] = list.isEmpty ? nil : list
            return waiter
        }
        waiter?.continuation.resume()
    }
}
