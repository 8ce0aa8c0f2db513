import DovetailOps
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of `db copy` and `db verify` on standard error: one line per table redrawn in place on a
/// terminal (rows done / total, rate), plain lines otherwise — when a table finishes, and every few
/// seconds while a long one runs.
final class CopyProgressDisplay: Sendable {
    private struct State {
        var lastDraw: ContinuousClock.Instant?
        var lineOpen = false
        var sawCopying = false
    }

    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let state = Mutex(State())
    private let clock = ContinuousClock()

    /// Redraws at most this often on a terminal; plain output prints a line at most this often per table.
    private var interval: Duration { isTerminal ? .milliseconds(100) : .seconds(5) }

    func update(_ progress: CopyProgress) {
        let now = clock.now
        let text: String? = state.withLock { state in
            if progress.phase == .copying { state.sawCopying = true }
            if !progress.isFinished, let last = state.lastDraw, last.duration(to: now) < interval { return nil }
            if !progress.isFinished, !isTerminal, state.lastDraw == nil {
                // The first line of a table in plain output waits for the interval too: short tables print once.
                state.lastDraw = now
                return nil
            }
            state.lastDraw = progress.isFinished ? nil : now
            let line = Self.describe(progress)
            if isTerminal {
                state.lineOpen = !progress.isFinished
                return "\r\u{1B}[K" + line + (progress.isFinished ? "\n" : "")
            }
            return line + "\n"
        }
        if let text { FileHandle.standardError.write(Data(text.utf8)) }
    }

    /// Whether any table started copying (and so the target may hold part of the data).
    var sawProgress: Bool { state.withLock { $0.sawCopying } }

    /// Ends an unfinished terminal line, so that what follows starts on a line of its own.
    func finish() {
        let open = state.withLock { state in
            defer { state.lineOpen = false }
            return state.lineOpen
        }
        if open { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func describe(_ progress: CopyProgress) -> String {
        let seconds = progress.elapsed / .seconds(1)
        if progress.phase == .indexing {
            return "built full-text search of \(progress.table) in " + String(format: "%.1f s", seconds)
        }
        let verb: String
        switch (progress.phase, progress.isFinished) {
        case (.copying, false): verb = "copying"
        case (.copying, true): verb = "copied"
        case (.reading, false): verb = "reading"
        case (.reading, true): verb = "read"
        case (.verifying, false): verb = "verifying"
        case (.verifying, true): verb = "verified"
        case (.indexing, _): verb = "indexing"
        }
        let percent = progress.rowsTotal > 0 ? " (\(min(100, progress.rowsDone * 100 / progress.rowsTotal))%)" : ""
        return "\(verb) \(progress.table): \(progress.rowsDone)/\(progress.rowsTotal) rows\(percent), "
            + String(format: "%.1f s, %.0f rows/s", seconds, progress.rowsPerSecond)
    }
}
