import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// Checks that the configured database answers, with an error that says what to fix.
///
/// PostgreSQL is probed with a fresh connection rather than through the pool: the pool retries
/// failed connects quietly, while `db wait` and start-up need the server's own reason
/// (wrong password, missing database, nothing listening).
public enum DatabaseProbe {
    public static func check(_ url: DatabaseURL, logger: Logger) async throws -> Duration {
        switch url {
        case .sqlite:
            let database = try await Database.open(url, logger: logger)
            defer { Task { await database.shutdown() } }
            return try await database.ping()
        case .postgres(let info):
            return try await checkPostgres(info, logger: logger)
        }
    }

    static func checkPostgres(_ info: PostgresConnectionInfo, logger: Logger) async throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        var configuration = try info.connectionConfiguration()
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", info.applicationName)]
        let silent = Logger(label: "dovetail.probe", factory: { _ in SwiftLogNoOpLogHandler() })
        do {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: silent)
            defer { Task { try? await connection.close() } }
            _ = try await connection.query("SELECT 1", logger: silent)
            return start.duration(to: clock.now)
        } catch {
            throw explain(error, info: info)
        }
    }

    /// Turns a connect failure into one sentence naming the cause and the fix; never the password.
    static func explain(_ error: any Error, info: PostgresConnectionInfo) -> StoreError {
        let server = "PostgreSQL at \(info.displayAddress)"
        if let psqlError = error as? PSQLError {
            if psqlError.code == .server {
                let state = psqlError.serverInfo?[.sqlState] ?? ""
                switch state {
                case "28P01", "28000":
                    return .unavailable("\(server) refused the login for user '\(info.username)': wrong password or no such role. Check the credentials in DATABASE_URL.")
                case "3D000":
                    return .unavailable("\(server): database '\(info.database)' does not exist. Create it (createdb \(info.database)) or fix the database name in DATABASE_URL.")
                case "57P03":
                    return .unavailable("\(server) is starting up; retry shortly.")
                case "53300":
                    return .unavailable("\(server) has no free connection slots (max_connections); lower POSTGRES_POOL_SIZE or raise the server limit.")
                default:
                    return .unavailable("\(server) refused the connection (SQLSTATE \(state)): \(psqlError.serverInfo?[.message] ?? "no message").")
                }
            }
            if psqlError.code == .sslUnsupported {
                return .unavailable("\(server) does not support TLS; use sslmode=disable or sslmode=prefer in DATABASE_URL.")
            }
            if let underlying = psqlError.underlying {
                return .unavailable("\(server) is unreachable: \(describe(underlying)). Is the server running and is the host/port right?")
            }
            return .unavailable("\(server) is unreachable (\(psqlError.code)). Is the server running and is the host/port right?")
        }
        return .unavailable("\(server) is unreachable: \(describe(error)). Is the server running and is the host/port right?")
    }

    private static func describe(_ error: any Error) -> String {
        if let ioError = error as? IOError { return ioError.description }
        if error is ChannelError { return "connection timed out" }
        return String(describing: error)
    }
}

/// Waits for the database with exponential backoff, as `dovetail db wait` and `serve` do.
public struct DatabaseWaiter: Sendable {
    public var timeout: Duration
    public var initialDelay: Duration = .milliseconds(250)
    public var maximumDelay: Duration = .seconds(30)

    public init(timeout: Duration) {
        self.timeout = timeout
    }

    /// The delay before attempt `attempt + 1`: doubling from `initialDelay`, capped at `maximumDelay`.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let factor = Double(1 << min(attempt - 1, 20))
        let seconds = min(initialDelay / .seconds(1) * factor, maximumDelay / .seconds(1))
        return .milliseconds(Int64(seconds * 1000))
    }

    /// Returns the round-trip time once the database answers; throws the last error on timeout.
    public func wait(
        for url: DatabaseURL, logger: Logger, onRetry: @Sendable (_ attempt: Int, _ error: any Error, _ delay: Duration) -> Void = { _, _, _ in }
    ) async throws -> Duration {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await DatabaseProbe.check(url, logger: logger)
            } catch {
                let remaining = clock.now.duration(to: deadline)
                if remaining <= .zero { throw error }
                let delay = min(self.delay(afterAttempt: attempt), remaining)
                onRetry(attempt, error, delay)
                try await Task.sleep(for: delay)
            }
        }
    }
}

extension PostgresConnectionInfo {
    /// A single-connection configuration for this URL (TLS as `sslMode` asks), for tools that need one
    /// connection rather than a pool: the probe, agent database provisioning.
    public func connectionConfiguration() throws(StoreError) -> PostgresConnection.Configuration {
        if let directory = unixSocketDirectory {
            return .init(unixSocketPath: "\(directory)/.s.PGSQL.\(port)", username: username, password: password, database: database)
        }
        let tls: PostgresConnection.Configuration.TLS
        do {
            switch sslMode {
            case .disable: tls = .disable
            case .allow, .prefer: tls = .prefer(try NIOSSLContext(configuration: PostgresEngine.tlsConfiguration(verify: false)))
            case .require: tls = .require(try NIOSSLContext(configuration: PostgresEngine.tlsConfiguration(verify: false)))
            case .verifyCA, .verifyFull: tls = .require(try NIOSSLContext(configuration: PostgresEngine.tlsConfiguration(verify: true)))
            }
        } catch {
            throw StoreError.unavailable("Cannot set up TLS for sslmode=\(sslMode.rawValue): \(error).")
        }
        return .init(host: host, port: port, username: username, password: password, database: database, tls: tls)
    }
}
