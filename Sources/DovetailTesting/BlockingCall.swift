import Foundation

extension TestSupport {
    /// Runs a blocking call (reading a child's output to its end, waiting for it to exit) on a thread of
    /// its own instead of one of Swift concurrency's.
    ///
    /// Why: the cooperative pool has one thread per core — two on the build machines — and the suite runs
    /// tests in parallel. Two CLI tests blocking in `readDataToEndOfFile` took both threads, so every other
    /// test's timers and database connections stalled, and unrelated tests failed with timeouts.
    public static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }
}
