import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs programs. The managed PostgreSQL runs every program through one of these, so that tests can record the exact
/// commands (`docker compose …`) instead of running them.
public protocol CommandRunner: Sendable {
    /// Runs `command` to completion and captures its output. Throws only when it cannot be started at all.
    func run(_ command: Command) async throws -> CommandResult

    /// Runs `command` with this process's standard output and error (for output the user watches, such as
    /// `logs --follow`) and returns its exit status.
    func runAttached(_ command: Command) async throws -> Int32
}

/// Why a program could not be started.
public struct CommandRunnerError: Error, Sendable, CustomStringConvertible {
    private enum Reason: Sendable {
        case executableNotFound
        case userSwitchNeedsRoot(user: String)
        case cannotStart(reason: String)
    }

    private let reason: Reason
    /// The program, as the command named it.
    public let executable: String

    private init(_ reason: Reason, executable: String) {
        self.reason = reason
        self.executable = executable
    }

    static func executableNotFound(_ executable: String) -> Self { .init(.executableNotFound, executable: executable) }
    static func userSwitchNeedsRoot(_ executable: String, user: String) -> Self { .init(.userSwitchNeedsRoot(user: user), executable: executable) }
    static func cannotStart(_ executable: String, reason: String) -> Self { .init(.cannotStart(reason: reason), executable: executable) }

    /// The program is not installed (not on `PATH`, or the path does not name an executable file).
    public var isExecutableNotFound: Bool {
        if case .executableNotFound = self.reason { return true }
        return false
    }

    public var description: String {
        switch self.reason {
        case .executableNotFound:
            return "`\(self.executable)` was not found (looked in PATH)"
        case .userSwitchNeedsRoot(let user):
            return "cannot run `\(self.executable)` as user '\(user)': switching users needs root"
        case .cannotStart(let reason):
            return "cannot run `\(self.executable)`: \(reason)"
        }
    }
}

/// Runs programs on this machine with `posix_spawn` (see `ProcessSpawner` for why not `Process`).
public struct SystemCommandRunner: CommandRunner {
    public init() {}

    public func run(_ command: Command) async throws -> CommandResult {
        let outputPath = FileManager.default.temporaryDirectory.path + "/dovetail-command-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let argv = try self.resolve(command)
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(argv, environment: self.environment(for: command), output: .file(outputPath), newProcessGroup: true)
        } catch {
            throw CommandRunnerError.cannotStart(command.executable, reason: error.reason)
        }
        let (status, timedOut) = await Self.wait(for: pid, timeout: command.timeout)
        let output = FileManager.default.contents(atPath: outputPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return CommandResult(status: status, output: output, timedOut: timedOut)
    }

    public func runAttached(_ command: Command) async throws -> Int32 {
        let argv = try self.resolve(command)
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(argv, environment: self.environment(for: command), output: .inherit, newProcessGroup: false)
        } catch {
            throw CommandRunnerError.cannotStart(command.executable, reason: error.reason)
        }
        return await Self.wait(for: pid, timeout: command.timeout).status
    }

    // MARK: Building the command line

    /// The full argument vector: the executable resolved to a path, wrapped in `runuser` for another user and in a
    /// shell that changes directory for a working directory.
    private func resolve(_ command: Command) throws -> [String] {
        var argv = [try Self.executablePath(command.executable)] + command.arguments
        if let directory = command.workingDirectory {
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + argv
        }
        if let user = command.user, user != SystemUser.currentName {
            guard SystemUser.isRoot else {
                throw CommandRunnerError.userSwitchNeedsRoot(command.executable, user: user)
            }
            if let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first(where: FileManager.default.isExecutableFile(atPath:)) {
                argv = [runuser, "-u", user, "--"] + argv
            } else {
                let su = ["/bin/su", "/usr/bin/su"].first(where: FileManager.default.isExecutableFile(atPath:)) ?? "/bin/su"
                argv = [su, user, "-s", "/bin/sh", "-c", argv.map(Command.shellQuoted).joined(separator: " ")]
            }
        }
        return argv
    }

    private func environment(for command: Command) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(command.environment) { _, new in new }
        return environment
    }

    /// A path as is, or a name looked up in `PATH` (then the usual system directories, for a `PATH` trimmed by sudo).
    static func executablePath(_ executable: String) throws -> String {
        let fileManager = FileManager.default
        if executable.contains("/") {
            guard fileManager.isExecutableFile(atPath: executable) else { throw CommandRunnerError.executableNotFound(executable) }
            return executable
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories =
            path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + executable
            if fileManager.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw CommandRunnerError.executableNotFound(executable)
    }

    // MARK: Waiting

    /// Waits for `pid` off the cooperative thread pool (`waitid` blocks); with a timeout, kills its process group when
    /// the time is up. The child is reaped only after the timer can no longer fire, so the signal cannot reach a
    /// process that reused its id.
    private static func wait(for pid: pid_t, timeout: Duration?) async -> (status: Int32, timedOut: Bool) {
        let state = WaitState()
        if let timeout {
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
                state.killIfRunning(pid)
            }
        }
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                ProcessSpawner.waitUntilEnded(pid)
                let timedOut = state.markEnded()
                continuation.resume(returning: (ProcessSpawner.reap(pid), timedOut))
            }
        }
    }

    /// Whether the child ended and whether the timer killed it.
    private final class WaitState: @unchecked Sendable {
        // @unchecked Sendable is safe: `ended` and `killed` are read and written only while `lock` is held.
        private let lock = NSLock()
        private var ended = false
        private var killed = false

        func killIfRunning(_ pid: pid_t) {
            self.lock.withLock {
                guard !self.ended else { return }
                self.killed = true
                // The child leads its own process group (spawned with `newProcessGroup`): kill everything it started.
                if kill(-pid, SIGKILL) != 0 { kill(pid, SIGKILL) }
            }
        }

        /// Returns whether the timer killed the child.
        func markEnded() -> Bool {
            self.lock.withLock {
                self.ended = true
                return self.killed
            }
        }
    }
}
