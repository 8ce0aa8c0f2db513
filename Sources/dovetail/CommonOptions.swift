import ArgumentParser
import DovetailStore
import Foundation
import Logging

/// Options every command that touches the database accepts.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "Overrides DATABASE_URL (default sqlite:///./data/dovetail.db).")
    var databaseURL: String?

    func loadConfiguration(extra: [String: String] = [:]) throws -> DovetailConfiguration {
        var overrides = extra
        if let databaseURL { overrides["DATABASE_URL"] = databaseURL }
        do {
            return try DovetailConfiguration.load(overrides: overrides)
        } catch {
            throw CLIFailure("configuration error: \(error.message)", code: 2)
        }
    }
}

/// A failure already explained to the user: its message is printed as is, with its exit code.
struct CLIFailure: Error, CustomStringConvertible {
    let message: String
    let code: Int32

    init(_ message: String, code: Int32 = 1) {
        self.message = message
        self.code = code
    }

    var description: String { message }
}

enum CLI {
    static func makeLogger(_ label: String) -> Logger {
        LoggingBootstrap.once()
        return Logger(label: label)
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }

    /// Runs a command body, turning known errors into a one-line message and an exit code.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CLIFailure {
            printError(failure.message)
            throw ExitCode(failure.code)
        } catch let error as StoreError {
            printError(error.message)
            throw ExitCode(error.kind == .unavailable ? 3 : 1)
        } catch let error as MigrationError {
            printError(error.message)
            throw ExitCode(1)
        } catch let error as ExitCode {
            throw error
        } catch {
            printError(String(describing: error))
            throw ExitCode(1)
        }
    }

    /// Opens the configured database, waiting for it up to `timeout` with backoff.
    static func openStore(_ configuration: DovetailConfiguration, waitTimeout: Duration, logger: Logger) async throws -> Store {
        let waiter = DatabaseWaiter(timeout: waitTimeout)
        _ = try await waiter.wait(for: configuration.databaseURL, logger: logger) { attempt, error, delay in
            logger.warning("Database not ready (attempt \(attempt)): \(error); retrying in \(delay.formatted())")
        }
        return try await Store.open(configuration.databaseURL, pool: configuration.pool, logger: logger)
    }
}

enum LoggingBootstrap {
    private static let done: Void = {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }()

    static func once() { _ = done }
}

extension Duration {
    func formatted() -> String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        return seconds < 1 ? "\(Int(seconds * 1000)) ms" : String(format: "%.1f s", seconds)
    }
}
