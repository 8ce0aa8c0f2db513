import Dispatch
import Foundation
import Logging

/// Ends the process a fixed time after SIGTERM or SIGINT, whatever is still running.
///
/// Graceful shutdown waits for requests in flight, and a request can be stuck where no cancellation
/// reaches it (a driver call to a database host that stopped answering). An orchestrator sends SIGKILL
/// after its own grace period anyway; exiting first, with a log line that says why, is the better end.
/// The timer is armed by the signal itself (a dispatch source beside ServiceLifecycle's), so it runs
/// even when every task of the process is blocked.
enum ShutdownDeadline {
    /// Keeps the signal sources alive for the life of the process.
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Call once, before the server starts.
    static func arm(after limit: Duration, logger: Logger) {
        let queue = DispatchQueue(label: "dovetail.shutdown-deadline")
        let seconds = Double(limit.components.seconds) + Double(limit.components.attoseconds) / 1e18
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)  // delivered to the dispatch sources only, as ServiceLifecycle does
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler {
                queue.asyncAfter(deadline: .now() + seconds) {
                    logger.error("Graceful shutdown did not finish within \(seconds) s; exiting now.")
                    exit(1)
                }
            }
            source.resume()
            // `sources` is only written here, on the main task before the server starts, and never read
            // concurrently: the unsafe static is safe under that use.
            sources.append(source)
        }
    }
}
