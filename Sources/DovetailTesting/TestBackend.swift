import DovetailStore
import Foundation
import Logging

/// The backends every repository and endpoint test runs on.
public enum TestBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqliteFile = "sqlite-file"
    case sqliteMemory = "sqlite-memory"
    case postgres

    public var description: String { rawValue }

    /// Backends that survive reopening (a second connection sees the same data).
    public static let persistent: [TestBackend] = [.sqliteFile, .postgres]

    /// A fresh, empty database of this kind, and a closure that removes it.
    public func makeDatabase() async throws -> (url: DatabaseURL, cleanup: @Sendable () async -> Void) {
        switch self {
        case .sqliteMemory:
            return (.sqlite(.memory), {})
        case .sqliteFile:
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dovetail-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent("dovetail.db").path
            return (.sqlite(.file(path: path)), { try? FileManager.default.removeItem(at: directory) })
        case .postgres:
            let server = try await PostgresTestServer.shared()
            let urlString = try await server.createDatabase()
            let url = try DatabaseURL(parsing: urlString)
            guard case .postgres(let info) = url else { fatalError("createDatabase returned a non-PostgreSQL URL") }
            return (url, { try? await server.dropDatabase(info.database) })
        }
    }
}

public enum TestSupport {
    public static let logger: Logger = {
        var logger = Logger(label: "dovetail.test")
        logger.logLevel = .warning
        return logger
    }()

    /// Runs `body` with a migrated store on a fresh database of `backend`, then removes the database.
    public static func withStore<T: Sendable>(
        _ backend: TestBackend, migrate: Bool = true, pool: PoolSettings = PoolSettings(), _ body: (Store) async throws -> T
    ) async throws -> T {
        let (url, cleanup) = try await backend.makeDatabase()
        let store = try await Store.open(url, pool: pool, logger: logger)
        do {
            if migrate { try await store.migrator.migrate(logger: logger) }
            let result = try await body(store)
            await store.shutdown()
            await cleanup()
            return result
        } catch {
            await store.shutdown()
            await cleanup()
            throw error
        }
    }

    /// Runs `body` with a fresh database's URL (nothing opened, nothing migrated), then removes it.
    public static func withDatabaseURL<T: Sendable>(_ backend: TestBackend, _ body: (DatabaseURL) async throws -> T) async throws -> T {
        let (url, cleanup) = try await backend.makeDatabase()
        do {
            let result = try await body(url)
            await cleanup()
            return result
        } catch {
            await cleanup()
            throw error
        }
    }
}

extension TestSupport {
    /// Runs `body` and keeps its error instead of throwing it, so a test can clean up first.
    public static func capture<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
        do {
            return .success(try await body())
        } catch {
            return .failure(error)
        }
    }
}
