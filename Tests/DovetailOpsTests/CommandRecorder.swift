import Foundation

@testable import DovetailOps

/// A `CommandRunner` that records every command, then either runs it for real (`delegate`) or answers it itself.
final class RecordingCommandRunner: CommandRunner, @unchecked Sendable {
    // @unchecked Sendable is safe: `recorded` is read and written only while `lock` is held; the other properties are
    // immutable and Sendable.
    private let lock = NSLock()
    private var recorded: [Command] = []
    private let delegate: (any CommandRunner)?
    private let answer: (@Sendable (Command) throws -> CommandResult)?

    /// Runs the commands for real and records them.
    init(delegate: any CommandRunner) {
        self.delegate = delegate
        self.answer = nil
    }

    /// Runs nothing: `answer` plays the program.
    init(answer: @escaping @Sendable (Command) throws -> CommandResult) {
        self.delegate = nil
        self.answer = answer
    }

    var commands: [Command] {
        self.lock.withLock { self.recorded }
    }

    func run(_ command: Command) async throws -> CommandResult {
        self.lock.withLock { self.recorded.append(command) }
        if let delegate = self.delegate { return try await delegate.run(command) }
        return try self.answer!(command)
    }

    func runAttached(_ command: Command) async throws -> Int32 {
        self.lock.withLock { self.recorded.append(command) }
        if let delegate = self.delegate { return try await delegate.runAttached(command) }
        return try self.answer!(command).status
    }
}

/// Collects what a `ManagedPostgres` reports.
final class ReportedLines: @unchecked Sendable {
    // @unchecked Sendable is safe: `lines` is read and written only while `lock` is held.
    private let lock = NSLock()
    private var lines: [String] = []

    var all: [String] { self.lock.withLock { self.lines } }
    var text: String { self.all.joined(separator: "\n") }

    var reporter: ManagedPostgres.Reporter {
        { line in self.lock.withLock { self.lines.append(line) } }
    }
}

/// The permission bits of a file.
func fileMode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
