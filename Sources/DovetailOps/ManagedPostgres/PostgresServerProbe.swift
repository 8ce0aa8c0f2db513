import DovetailStore
import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Connects to the managed server with its credentials and tells apart the answers `start` and `status` care about:
/// not listening yet, starting up, wrong password, missing database, accepted.
///
/// A fresh connection each time rather than a pool: a pool retries quietly, while these commands need the server's own
/// reason. Nothing is logged (a connection's debug log could show the startup packet), and no message holds the password.
enum PostgresServerProbe {
    enum Outcome: Sendable {
        case accepted(ServerDetails)
        /// Nothing listens, or the server is starting or shutting down: waiting may help.
        case notReady(reason: String)
        case wrongCredentials
        case databaseMissing
        /// The server answered with another error; waiting will not help.
        case refused(reason: String)
    }

    struct ServerDetails: Sendable {
        var version: String
        /// The highest applied Dovetail migration, nil when the database has none.
        var schemaVersion: Int?
        var vectorAvailable: Bool
        var vectorInstalled: Bool
        var roundTrip: Duration
    }

    private static let silent = Logger(label: "dovetail.postgres.probe", factory: { _ in SwiftLogNoOpLogHandler() })

    static func probe(_ info: PostgresConnectionInfo, connectTimeout: Duration = .seconds(3)) async -> Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let connection: PostgresConnection
        do {
            connection = try await Self.connect(info, connectTimeout: connectTimeout)
        } catch {
            return Self.classify(error)
        }
        do {
            var details = try await Self.details(connection)
            details.roundTrip = start.duration(to: clock.now)
            try? await connection.close()
            return .accepted(details)
        } catch {
            try? await connection.close()
            return Self.classify(error)
        }
    }

    /// Runs `sql` (which must not carry secrets) on a short-lived connection.
    static func execute(_ sql: String, on info: PostgresConnectionInfo) async throws {
        try await execute([sql], on: info)
    }

    /// Runs each statement (none may carry secrets) in turn on one short-lived connection, stopping at the first failure.
    static func execute(_ statements: [String], on info: PostgresConnectionInfo) async throws {
        let connection = try await Self.connect(info, connectTimeout: .seconds(5))
        do {
            for sql in statements {
                for try await _ in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: silent) {}
            }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    private static func connect(_ info: PostgresConnectionInfo, connectTimeout: Duration) async throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: info.host,
            port: info.port,
            username: info.username,
            password: info.password,
            database: info.database,
            tls: .disable
        )
        configuration.options.connectTimeout = .milliseconds(Int64(connectTimeout.inSeconds * 1000))
        configuration.options.additionalStartupParameters = [("application_name", "dovetail-postgres")]
        return try await PostgresConnection.connect(configuration: configuration, id: Int.random(in: 1...Int.max), logger: silent)
    }

    private static func details(_ connection: PostgresConnection) async throws -> ServerDetails {
        var version = ""
        for try await row in try await connection.query("SELECT current_setting('server_version')", logger: silent) {
            version = try row.decode(String.self)
        }
        var schemaVersion: Int?
        let migrations = try await connection.query(
            "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN NULL ELSE 1 END",
            logger: silent
        )
        var hasMigrations = false
        for try await row in migrations {
            hasMigrations = try row.decode(Int?.self) != nil
        }
        if hasMigrations {
            for try await row in try await connection.query("SELECT max(version)::int FROM schema_migrations", logger: silent) {
                schemaVersion = try row.decode(Int?.self)
            }
        }
        var vectorAvailable = false
        var vectorInstalled = false
        let vector = try await connection.query(
            "SELECT installed_version IS NOT NULL FROM pg_available_extensions WHERE name = 'vector'",
            logger: silent
        )
        for try await row in vector {
            vectorAvailable = true
            vectorInstalled = try row.decode(Bool.self)
        }
        return ServerDetails(
            version: version,
            schemaVersion: schemaVersion,
            vectorAvailable: vectorAvailable,
            vectorInstalled: vectorInstalled,
            roundTrip: .zero
        )
    }

    private static func classify(_ error: any Error) -> Outcome {
        guard let error = error as? PSQLError else {
            return .notReady(reason: Self.describe(error))
        }
        if error.code == .server {
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "28P01", "28000": return .wrongCredentials
            case "3D000": return .databaseMissing
            case "57P03": return .notReady(reason: "the server is starting up or shutting down")
            default:
                return .refused(reason: "SQLSTATE \(state): \(error.serverInfo?[.message] ?? "no message")")
            }
        }
        if let underlying = error.underlying {
            return .notReady(reason: Self.describe(underlying))
        }
        return .notReady(reason: "\(error.code)")
    }

    /// A failure of `execute`, in words: the server's SQLSTATE and message, or why no connection was made.
    static func describeError(_ error: any Error) -> String {
        if let error = error as? PSQLError, error.code == .server {
            return "SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"): \(error.serverInfo?[.message] ?? "no message")"
        }
        return describe(error)
    }

    private static func describe(_ error: any Error) -> String {
        if error is ChannelError { return "connection timed out" }
        if let error = error as? PSQLError { return "\(error.code)" }
        let text = (error as? IOError)?.description ?? String(describing: error)
        // NIO reports a refused connection per address tried (`NIOConnectionError`): say it once, plainly.
        if text.localizedCaseInsensitiveContains("connection refused") { return "connection refused (nothing listens on the port)" }
        return text
    }
}
