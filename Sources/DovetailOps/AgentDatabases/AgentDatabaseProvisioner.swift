import DovetailStore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// An agent's database as handed to its launch step.
public struct AgentDatabase: Sendable, Equatable, CustomStringConvertible {
    /// The database (and, on PostgreSQL, role) name.
    public var name: String
    /// `sqlite` or `postgres`, as stored in `agents.database_backend`.
    public var backend: String
    /// The agent's `DATABASE_URL`, password percent-encoded. Secret: never log it.
    public var url: String
    /// `url` with the password masked.
    public var redactedURL: String
    /// Whether this call created the database (false when it already existed).
    public var created: Bool
    /// Whether the new database was a claimed spare (renamed) rather than made by `CREATE DATABASE`.
    public var fromSpare: Bool

    public init(name: String, backend: String, url: String, redactedURL: String, created: Bool, fromSpare: Bool = false) {
        self.name = name
        self.backend = backend
        self.url = url
        self.redactedURL = redactedURL
        self.created = created
        self.fromSpare = fromSpare
    }

    public var description: String { "AgentDatabase(\(name), \(redactedURL))" }
}

/// Creates, finds and drops per-agent databases. Every operation is idempotent and safe to run
/// concurrently with itself, for the same agent or for others.
public protocol AgentDatabaseProvisioner: Sendable {
    /// Creates the agent's database (and role) or reuses the existing ones, keeping their data.
    func provision(agentId: String, logger: Logger) async throws -> AgentDatabase
    /// The agent's existing database; never creates anything. Throws `.notProvisioned` when there is none.
    func locate(agentId: String, logger: Logger) async throws -> AgentDatabase
    /// Drops the agent's database (and role), terminating its connections. Returns false when there was nothing to drop.
    @discardableResult
    func drop(agentId: String, logger: Logger) async throws -> Bool
    /// Tops the pool of spare databases up to `AGENT_DB_SPARE_DATABASES` (and trims any excess), returning
    /// when the pool is full or the attempt failed. A no-op where there is no pool (SQLite, pool size 0).
    func refillSpares(logger: Logger) async throws
    /// How many spare databases are ready now (0 where there is no pool).
    func spareCount(logger: Logger) async throws -> Int
}

extension AgentDatabaseProvisioner {
    public func refillSpares(logger: Logger) async throws {}
    public func spareCount(logger: Logger) async throws -> Int { 0 }
}

extension AgentDatabaseConfiguration {
    /// The provisioner for the configured backend.
    public func makeProvisioner() -> any AgentDatabaseProvisioner {
        switch backend {
        case .sqlite: SQLiteAgentProvisioner(configuration: self)
        case .postgres: PostgresAgentProvisioner(configuration: self)
        }
    }

    func databaseName(for agentId: String) throws(AgentDatabaseError) -> AgentDatabaseName {
        try AgentDatabaseName(namespace: namespace, agentId: agentId)
    }

    /// `dataDirectory` as an absolute path, so URLs handed to agents work from any working directory.
    var absoluteDataDirectory: String {
        let path = dataDirectory.hasPrefix("/") ? dataDirectory : FileManager.default.currentDirectoryPath + "/" + dataDirectory
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

/// `USE_POSTGRESQL_FOR_AGENTS=false`: a SQLite file per agent at `DOVETAIL_DATA_DIR/agents/{name}.db`.
public struct SQLiteAgentProvisioner: AgentDatabaseProvisioner {
    public let configuration: AgentDatabaseConfiguration

    public init(configuration: AgentDatabaseConfiguration) {
        self.configuration = configuration
    }

    func path(for name: AgentDatabaseName) -> String {
        configuration.absoluteDataDirectory + "/agents/\(name.value).db"
    }

    func database(name: AgentDatabaseName, created: Bool) -> AgentDatabase {
        let url = "sqlite:///" + path(for: name)
        return AgentDatabase(name: name.value, backend: "sqlite", url: url, redactedURL: url, created: created)
    }

    public func provision(agentId: String, logger: Logger) async throws -> AgentDatabase {
        let name = try configuration.databaseName(for: agentId)
        let path = path(for: name)
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw AgentDatabaseError(.configuration, "Cannot create \(directory) for agent databases: \(error.localizedDescription). Check DOVETAIL_DATA_DIR.")
        }
        // O_EXCL: of two racing deploys exactly one creates the file; an empty file is a valid SQLite database.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        if descriptor >= 0 {
            close(descriptor)
            logger.info("Created agent database", metadata: ["database": "\(name.value)", "backend": "sqlite"])
            return database(name: name, created: true)
        }
        guard errno == EEXIST else {
            throw AgentDatabaseError(.configuration, "Cannot create \(path): \(String(cString: strerror(errno))). Check DOVETAIL_DATA_DIR.")
        }
        return database(name: name, created: false)
    }

    public func locate(agentId: String, logger: Logger) async throws -> AgentDatabase {
        let name = try configuration.databaseName(for: agentId)
        guard FileManager.default.fileExists(atPath: path(for: name)) else {
            throw AgentDatabaseError(.notProvisioned, "Agent \(agentId) has no database (\(path(for: name)) is missing); deploy it first.")
        }
        return database(name: name, created: false)
    }

    public func drop(agentId: String, logger: Logger) async throws -> Bool {
        let name = try configuration.databaseName(for: agentId)
        let path = path(for: name)
        var dropped = false
        for file in [path, path + "-wal", path + "-shm", path + "-journal"] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.removeItem(atPath: file)
            dropped = true
        }
        return dropped
    }
}
