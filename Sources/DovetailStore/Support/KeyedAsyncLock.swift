import Synchronization

/// A fair (FIFO) async lock per key, for writes that will queue on the same database row lock anyway.
///
/// Waiting here costs nothing; waiting inside PostgreSQL for a row lock holds a pooled connection, and a
/// burst of card creations on one board would otherwise hold most of the pool while reads starve.
final class KeyedAsyncLock: Sendable {
    /// A key is present while it is locked; its value is the queue of waiters.
    private let state = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let result = try await body()
            release(key)
            return result
        } catch {
            release(key)
            throw error
        }
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { locks -> Bool in
                if locks[key] != nil {
                    locks[key]!.append(continuation)
                    return false
                }
                locks[key] = []
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = state.withLock { locks -> CheckedContinuation<Void, Never>? in
            guard let waiters = locks[key], !waiters.isEmpty else {
                locks[key] = nil
                return nil
            }
            return locks[key]!.removeFirst()
        }
        next?.resume()
    }
}
