import DovetailStore
import DovetailTesting
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import DovetailOps

/// Issue 17, item 7: on the server Dovetail administers (`dovetail postgres init`), an agent's role cannot connect to
/// Dovetail's database, `postgres` or `template1`, while Dovetail's own role still can, also after a restart.
/// The start path is the same for the native and the docker engine; this runs the native one (no image registry here).
/// Agents on SQLite have no role on any server, so there is nothing to test for them.
@Suite("Managed PostgreSQL keeps agents out of Dovetail's databases")
struct ManagedDatabaseAccessTests {
    static let logger = Logger(label: "dovetail.tests.managed-access", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test
    func agentRolesCannotConnectToDovetailsDatabases() async throws {
        try await ManagedPostgresSandbox.with { sandbox in
            let managed = ManagedPostgres(projectDirectory: sandbox.directory)
            let result = try await managed.initialize(.init(engine: .native, port: sandbox.port))
            let env = try EnvironmentFile.load(path: sandbox.directory + "/.env")
            let configuration = try AgentDatabaseConfiguration(environment: [
                "USE_POSTGRESQL_FOR_AGENTS": "true", "NAMESPACE": "access", "DOVETAIL_DATA_DIR": sandbox.directory + "/data",
                "POSTGRES_USER": try #require(env["POSTGRES_USER"]), "POSTGRES_PASSWORD": try #require(env["POSTGRES_PASSWORD"]),
                "POSTGRES_PORT": String(sandbox.port), "POSTGRES_DB": try #require(env["POSTGRES_DB"]),
            ])
            guard case .postgres(_, let mode) = configuration.backend else { Issue.record("expected PostgreSQL"); return }
            #expect(mode == .managed)

            let deployer = AgentDeployer(
                store: try await Store.open(.sqlite(.memory), logger: Self.logger), configuration: configuration, spareRefill: .beforeReturning
            )
            defer { Task { await deployer.store.shutdown() } }
            try await deployer.store.migrator.migrate(logger: Self.logger)
            let project = try await deployer.store.projects.create(NewProject(name: "Access"))
            let agent = try await deployer.store.agents.create(NewAgent(projectId: project.id, name: "intruder", configuration: .object([:])))
            var database = try #require(try await deployer.deploy(agent.id, logger: Self.logger).database)

            for round in ["after init", "after a restart"] {
                try await AgentDatabaseFixture.writeAndRead(url: database.url)
                for shared in [result.connection.database, "postgres", "template1"] {
                    let error = await #expect(throws: (any Error).self, "\(round): the agent connected to \(shared)") {
                        let connection = try await AgentDatabaseFixture.connect(url: database.url, database: shared)
                        try? await connection.close()
                    }
                    #expect(error.flatMap(sqlState) == "42501", "\(round), \(shared): \(String(describing: error))")
                }
                // Dovetail's own role keeps its access: its store migrates and reads.
                let store = try await Store.open(.postgres(result.connection), logger: Self.logger)
                do {
                    try await store.migrator.migrate(logger: Self.logger)
                    _ = try await store.projects.create(NewProject(name: "Still mine \(round)"))
                } catch {
                    await store.shutdown()
                    throw error
                }
                await store.shutdown()
                let acl = try await Self.databaseACL(result.connection, database: result.connection.database)
                #expect(!acl.contains("{=") && !acl.contains(",="), "PUBLIC still has rights: \(acl)")
                #expect(acl.contains("\(result.connection.username)=CTc/") || acl.contains("\(result.connection.username)=CTc"))

                try await managed.restart(timeout: .seconds(60))
                // A second deploy of the same agent grants nothing back on the shared databases.
                database = try #require(try await deployer.deploy(agent.id, logger: Self.logger).database)
            }
        }
    }

    /// `pg_database.datacl` of `database` as text, read as Dovetail's role.
    static func databaseACL(_ info: PostgresConnectionInfo, database: String) async throws -> String {
        var maintenance = info
        maintenance.database = "postgres"
        let connection = try await AgentDatabaseFixture.connect(maintenance)
        defer { Task { try? await connection.close() } }
        var bindings = PostgresBindings()
        bindings.append(database)
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT coalesce(datacl::text, '') FROM pg_database WHERE datname = $1", binds: bindings), logger: logger
        )
        for try await acl in rows.decode(String.self) { return acl }
        return ""
    }
}
