/// One deploy, update or undeploy of an agent at a time in this process; other agents are not held up.
///
/// Why: two deploys of one agent racing each other ran `ALTER ROLE` side by side (PostgreSQL fails one with
/// "tuple concurrently updated" and logs the statement), launched the agent twice, and left `status` to
/// whichever finished last. Waiters are served first come, first served. Across processes (several `serve`
/// replicas, the CLI beside a server) the PostgreSQL provisioner takes an advisory lock per agent as well.
actor AgentOperationLocks {
    /// Shared by every `AgentDeployer` of the process: the API makes one per application, the CLI one per command.
    static let shared = AgentOperationLocks()

    /// A key is present while held; its array holds the tasks waiting for it, in arrival order.
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// Runs `body` while holding `key`, waiting for any earlier holder to finish.
    nonisolated func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        do {
            let result = try await body()
            await release(key)
            return result
        } catch {
            await release(key)
            throw error
        }
    }

    private func acquire(_ key: String) async {
        guard waiters[key] != nil else {
            waiters[key] = []
            return
        }
        await withCheckedContinuation { continuation in waiters[key, default: []].append(continuation) }
    }

    /// Hands the key to the next waiter, or frees it when nobody waits.
    private func release(_ key: String) {
        guard var queue = waiters[key], !queue.isEmpty else {
            waiters[key] = nil
            return
        }
        let next = queue.removeFirst()
        waiters[key] = queue
        next.resume()
    }
}
