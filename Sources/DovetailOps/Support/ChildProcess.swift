import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a command to completion, its output captured in a private temporary file; spawned by
/// `ProcessSpawner`, the one `posix_spawn` of DovetailOps.
///
/// Not Foundation's `Process`: on Linux it learns that a child ended when pipes the child inherited are closed,
/// so a launch command that leaves a background process (`docker run -d`, `nohup …&`) would never be seen to
/// end. Here the child gets /dev/null as input, the output file as stdout and stderr, and no other descriptor.
package enum ChildProcess {
    package struct Result: Sendable {
        package var status: Int32
        /// Standard output and standard error, interleaved.
        package var output: String
    }

    package struct CannotStart: Error, CustomStringConvertible {
        package var description: String
    }

    /// With `newProcessGroup` the child leads a process group of its own (see `ProcessSpawner.spawn`).
    package static func run(_ argv: [String], environment: [String: String], newProcessGroup: Bool = false) async throws -> Result {
        let outputPath = FileManager.default.temporaryDirectory.path + "/dovetail-launch-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(argv, environment: environment, output: .file(outputPath), newProcessGroup: newProcessGroup)
        } catch {
            throw CannotStart(description: "cannot run `\(error.executable)`: \(error.reason)")
        }
        let status = await withCheckedContinuation { continuation in
            // waitpid blocks: keep it off the cooperative thread pool.
            DispatchQueue.global().async { continuation.resume(returning: ProcessSpawner.reap(pid)) }
        }
        let output = FileManager.default.contents(atPath: outputPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Result(status: status, output: output)
    }

    /// `'text'` for `/bin/sh`, embedded single quotes as `'\''`.
    package static func shellQuote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
