import DovetailOps
import DovetailStore
import DovetailTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// One test's world: the shared test PostgreSQL as a bring-your-own server, a random `NAMESPACE` (so parallel
/// tests never share names), a non-superuser admin role with CREATEDB CREATEROLE and a password full of special
/// characters, a SQLite store with a project, and a data directory. Everything is dropped afterwards.
struct AgentDatabaseFixture {
    static let logger: Logger = {
        var logger = Logger(label: "dovetail.tests.agents")
        logger.logLevel = .warning
        return logger
    }()

    let server: PostgresTestServer
    let namespace: String
    let adminUser: String
    let adminPassword = "adm'n \"pw\" @%/:?# $HOME \\ ünï"
    let directory: String
    let store: Store
    let projectId: String

    var logger: Logger { Self.logger }

    /// `server` defaults to the shared test server; tests that read the server's log or change its settings pass a dedicated one.
    static func with(server: PostgresTestServer? = nil, _ body: (AgentDatabaseFixture) async throws -> Void) async throws {
        let server = if let server { server } else { try await PostgresTestServer.shared() }
        let namespace = "t" + String(UInt64.random(in: 0 ... .max), radix: 36)
        let adminUser = namespace + "_admin"
        let directory = FileManager.default.temporaryDirectory.path + "/dovetail-agents-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try await Store.open(.sqlite(.file(path: directory + "/dovetail.db")), logger: logger)
        try await store.migrator.migrate(logger: logger)
        let project = try await store.projects.create(NewProject(name: "Agents \(namespace)"))
        let fixture = AgentDatabaseFixture(
            server: server, namespace: namespace, adminUser: adminUser, directory: directory, store: store, projectId: project.id
        )
        try await fixture.superuser(
            "CREATE ROLE \(quote(adminUser)) LOGIN CREATEDB CREATEROLE PASSWORD \(PostgresAgentProvisioner.quoteLiteral(fixture.adminPassword))"
        )
        do {
            try await body(fixture)
        } catch {
            await fixture.cleanUp()
            throw error
        }
        await fixture.cleanUp()
    }

    func cleanUp() async {
        await store.shutdown()
        let pattern = namespace + "\\_%"
        if let databases = try? await superuserStrings("SELECT datname FROM pg_database WHERE datname LIKE $1", pattern) {
            for name in databases { try? await superuser("DROP DATABASE IF EXISTS \(quote(name)) WITH (FORCE)") }
        }
        if let roles = try? await superuserStrings("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", pattern) {
            for name in roles where name != adminUser { try? await superuser("DROP ROLE IF EXISTS \(quote(name))") }
            try? await superuser("DROP ROLE IF EXISTS \(quote(adminUser))")
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Environment for bring-your-own mode through the dedicated admin.
    func byoEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "USE_POSTGRESQL_FOR_AGENTS": "true", "AGENT_DB_HOST": server.host, "AGENT_DB_PORT": String(server.port),
            "AGENT_DB_ADMIN_USER": adminUser, "AGENT_DB_ADMIN_PASSWORD": adminPassword, "NAMESPACE": namespace,
            "DOVETAIL_DATA_DIR": directory + "/data", "AGENT_DB_CONNECT_TIMEOUT": "5",
        ]
        environment.merge(extra) { _, new in new }
        return environment
    }

    func byoConfiguration(_ extra: [String: String] = [:]) throws -> AgentDatabaseConfiguration {
        try AgentDatabaseConfiguration(environment: byoEnvironment(extra))
    }

    /// Refills the spare pool before `deploy` returns, so no refill outlives the test; with the default pool
    /// (2) a fixture's first new database is made by `CREATE DATABASE` and later ones are claimed spares,
    /// so every test that deploys two agents covers both paths.
    func deployer(_ configuration: AgentDatabaseConfiguration, spareRefill: AgentDeployer.SpareRefill = .beforeReturning) -> AgentDeployer {
        AgentDeployer(store: store, configuration: configuration, spareRefill: spareRefill)
    }

    func makeAgent(_ name: String = "agent") async throws -> Agent {
        try await store.agents.create(NewAgent(projectId: projectId, name: name + "-" + UUID().uuidString.prefix(6), configuration: .object(["model": .string("m")])))
    }

    // MARK: Talking to the server

    var superuserInfo: PostgresConnectionInfo {
        PostgresConnectionInfo(
            host: server.host, port: server.port, username: server.superuser, password: server.superuserPassword, database: "postgres",
            sslMode: .disable
        )
    }

    static func connect(_ info: PostgresConnectionInfo) async throws -> PostgresConnection {
        var configuration = try info.connectionConfiguration()
        configuration.options.additionalStartupParameters = [("standard_conforming_strings", "on")]
        return try await PostgresConnection.connect(configuration: configuration, id: Int.random(in: 1...1_000_000), logger: logger)
    }

    /// Connects as the agent, creates a table (the agent owns its database's public schema), writes and reads a row.
    static func writeAndRead(url: String) async throws {
        let connection = try await connect(url: url)
        defer { Task { try? await connection.close() } }
        try await connection.query("CREATE TABLE IF NOT EXISTS notes (note text)", logger: logger)
        try await connection.query("INSERT INTO notes VALUES ('hello')", logger: logger)
        var count = 0
        for try await _ in try await connection.query("SELECT note FROM notes", logger: logger) { count += 1 }
        #expect(count >= 1)
    }

    /// Connects with an agent's `DATABASE_URL` exactly as handed to it (percent-encoded), optionally to another database.
    static func connect(url: String, database: String? = nil) async throws -> PostgresConnection {
        guard case .postgres(var info) = try DatabaseURL(parsing: url) else { throw AgentDatabaseError(.configuration, "not a PostgreSQL URL") }
        if let database { info.database = database }
        return try await connect(info)
    }

    func superuser(_ sql: String) async throws {
        let connection = try await Self.connect(superuserInfo)
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
    }

    func superuserStrings(_ sql: String, _ value: String) async throws -> [String] {
        let connection = try await Self.connect(superuserInfo)
        defer { Task { try? await connection.close() } }
        var bindings = PostgresBindings()
        bindings.append(value)
        var result: [String] = []
        for try await name in try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger).decode(String.self) {
            result.append(name)
        }
        return result
    }

    func databaseExists(_ name: String) async throws -> Bool {
        try await !superuserStrings("SELECT datname FROM pg_database WHERE datname = $1", name).isEmpty
    }

    func roleExists(_ name: String) async throws -> Bool {
        try await !superuserStrings("SELECT rolname FROM pg_roles WHERE rolname = $1", name).isEmpty
    }

    /// The namespace's agent databases: spares (`{namespace}_spare_{16 hex}`) are not agents' and left out.
    func namespaceDatabases() async throws -> [String] {
        try await superuserStrings(
            "SELECT datname FROM pg_database WHERE datname LIKE $1 AND datname !~ '_spare_[0-9a-f]{16}$' ORDER BY 1", namespace + "\\_%"
        )
    }

    /// The namespace's spare databases.
    func spareDatabases() async throws -> [String] {
        try await superuserStrings("SELECT datname FROM pg_database WHERE datname ~ $1 ORDER BY 1", "^" + namespace + "_spare_[0-9a-f]{16}$")
    }
}

func quote(_ identifier: String) -> String { PostgresAgentProvisioner.quoteIdentifier(identifier) }

/// The SQLSTATE of a server error, for `#expect(throws:)` checks.
func sqlState(_ error: any Error) -> String? {
    (error as? PSQLError)?.serverInfo?[.sqlState]
}
