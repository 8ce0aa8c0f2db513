import Foundation

/// A program to run: what `CommandRunner` executes, and what a test double records.
///
/// Never put a secret in `arguments`: every user of the machine can read a process's command line (`ps`). Secrets go
/// to programs through files (`initdb --pwfile`) or through `.env` (`docker compose`).
public struct Command: Sendable, Equatable, CustomStringConvertible {
    /// An absolute path, or a name looked up in `PATH` when the command runs (`docker`).
    public var executable: String
    public var arguments: [String]
    /// Run as this system user (through `runuser`); only possible as root. Nil runs as the current user.
    public var user: String?
    /// The working directory of the program; nil keeps the current one.
    public var workingDirectory: String?
    /// Variables added to (or replacing those of) the current environment.
    public var environment: [String: String]
    /// Killed (with its process group) after this long; nil waits for ever.
    public var timeout: Duration?

    public init(
        _ executable: String,
        _ arguments: [String] = [],
        user: String? = nil,
        workingDirectory: String? = nil,
        environment: [String: String] = [:],
        timeout: Duration? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.user = user
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.timeout = timeout
    }

    /// The executable's name followed by the arguments, as a test or an error message shows it.
    public var argv: [String] {
        [self.executable] + self.arguments
    }

    /// The command as a shell would read it; safe to show, since commands carry no secrets.
    public var description: String {
        self.argv.map(Self.shellQuoted).joined(separator: " ")
    }

    static func shellQuoted(_ argument: String) -> String {
        let plain =
            !argument.isEmpty
            && argument.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (Character(scalar).isLetter || Character(scalar).isNumber || "-_./=:,@%+".unicodeScalars.contains(scalar))
            }
        return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// How a command ended.
public struct CommandResult: Sendable, Equatable {
    /// The exit status, or 128 + the number of the signal that ended it.
    public var status: Int32
    /// Standard output and standard error, interleaved as the program wrote them.
    public var output: String
    /// True when the runner killed the program because its `timeout` passed.
    public var timedOut: Bool

    public init(status: Int32, output: String, timedOut: Bool = false) {
        self.status = status
        self.output = output
        self.timedOut = timedOut
    }

    public var succeeded: Bool { self.status == 0 && !self.timedOut }

    /// The last `lines` lines of the output, for error messages.
    public func outputTail(lines: Int = 20) -> String {
        self.output.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
