import DovetailOps
import DovetailStore
import DovetailTesting
import Foundation
import PostgresNIO
import Testing

/// The pool of spare databases (`AGENT_DB_SPARE_DATABASES`) against a real PostgreSQL: a deploy claims a spare,
/// ends in exactly the state `CREATE DATABASE` gives, races safely, and a spare is never an agent's.
@Suite("Agent spare databases")
struct AgentSpareDatabaseTests {
    @Test
    func readsThePoolSize() throws {
        #expect(try AgentDatabaseConfiguration(environment: [:]).spareDatabases == 2)
        #expect(try AgentDatabaseConfiguration(environment: ["AGENT_DB_SPARE_DATABASES": "0"]).spareDatabases == 0)
        #expect(try AgentDatabaseConfiguration(environment: ["AGENT_DB_SPARE_DATABASES": " 10 "]).spareDatabases == 10)
        for bad in ["-1", "101", "two"] {
            let error = #expect(throws: AgentDatabaseError.self) { try AgentDatabaseConfiguration(environment: ["AGENT_DB_SPARE_DATABASES": bad]) }
            #expect(error?.kind == .configuration)
            #expect(error?.message.contains("AGENT_DB_SPARE_DATABASES") == true)
        }
    }

    // A deploy takes a ready spare (the pool drops by one), the refill tops it up again, and the agent's
    // database is exactly what CREATE DATABASE would have made: owner, ACL, connections, public schema.
    @Test
    func deployClaimsASpareAndTheRefillReplacesIt() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let deployer = fixture.deployer(try fixture.byoConfiguration(), spareRefill: .byCaller)
            await deployer.refillSpares(logger: fixture.logger)
            let before = try await fixture.spareDatabases()
            #expect(before.count == 2)
            #expect(try await deployer.provisioner.spareCount(logger: fixture.logger) == 2)

            let outcome = try await deployer.deploy(try await fixture.makeAgent("spare").id, logger: fixture.logger)
            let database = try #require(outcome.database)
            #expect(database.created && database.fromSpare)
            #expect(outcome.agent.databaseName == database.name)
            let after = try await fixture.spareDatabases()
            #expect(after.count == 1 && Set(before).isSuperset(of: after))
            await deployer.refillSpares(logger: fixture.logger)
            #expect(try await fixture.spareDatabases().count == 2)

            // The same agent-visible behaviour as the CREATE DATABASE path.
            try await AgentDatabaseFixture.writeAndRead(url: database.url)
            let other = try #require(
                try await fixture.deployer(try fixture.byoConfiguration(["AGENT_DB_SPARE_DATABASES": "0"]))
                    .deploy(try await fixture.makeAgent("created").id, logger: fixture.logger).database
            )
            #expect(other.created && !other.fromSpare)
            let intrusion = await #expect(throws: (any Error).self) { try await AgentDatabaseFixture.connect(url: other.url, database: database.name) }
            #expect(intrusion.flatMap(sqlState) == "42501")
            let reverse = await #expect(throws: (any Error).self) { try await AgentDatabaseFixture.connect(url: database.url, database: other.name) }
            #expect(reverse.flatMap(sqlState) == "42501")

            // The same catalog state, name for name.
            let claimed = try await catalogState(of: database.name, fixture: fixture)
            let created = try await catalogState(of: other.name, fixture: fixture)
            #expect(claimed == created)
            #expect(claimed.first == "owner=self acl={self=CTc/self} allowconn=true template=false connlimit=-1")
        }
    }

    // Ten agents at once with three spares: three claim one, seven fall back to CREATE DATABASE, all distinct.
    // Then five refills at once, from separate provisioners, make exactly the three missing spares.
    @Test
    func concurrentDeploysWithFewerSparesThanAgents() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let configuration = try fixture.byoConfiguration(["AGENT_DB_SPARE_DATABASES": "3"])
            let deployer = fixture.deployer(configuration, spareRefill: .byCaller)
            await deployer.refillSpares(logger: fixture.logger)
            #expect(try await fixture.spareDatabases().count == 3)
            var agents: [Agent] = []
            for index in 0..<10 { agents.append(try await fixture.makeAgent("c\(index)")) }
            let databases = try await withThrowingTaskGroup(of: AgentDatabase.self) { group in
                for agent in agents { group.addTask { try #require(try await deployer.deploy(agent.id, logger: fixture.logger).database) } }
                return try await group.reduce(into: [AgentDatabase]()) { $0.append($1) }
            }
            #expect(Set(databases.map(\.name)).count == 10)
            #expect(databases.allSatisfy { $0.created })
            #expect(databases.filter(\.fromSpare).count == 3)
            #expect(try await fixture.namespaceDatabases() == databases.map(\.name).sorted())
            #expect(try await fixture.spareDatabases().isEmpty)
            for database in databases { try await AgentDatabaseFixture.writeAndRead(url: database.url) }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 { group.addTask { try await configuration.makeProvisioner().refillSpares(logger: fixture.logger) } }
                try await group.waitForAll()
            }
            #expect(try await fixture.spareDatabases().count == 3)
            // Within one provisioner, requests made while a refill runs fold into it.
            let provisioner = configuration.makeProvisioner()
            _ = try await fixture.deployer(configuration, spareRefill: .byCaller).deploy(try await fixture.makeAgent("x").id, logger: fixture.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<5 { group.addTask { try await provisioner.refillSpares(logger: fixture.logger) } }
                try await group.waitForAll()
            }
            #expect(try await fixture.spareDatabases().count == 3)
        }
    }

    // AGENT_DB_SPARE_DATABASES=0: no spares are made, none are claimed (not even existing ones), deploys create.
    @Test
    func poolSizeZeroBehavesAsBefore() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let disabled = fixture.deployer(try fixture.byoConfiguration(["AGENT_DB_SPARE_DATABASES": "0"]))
            await disabled.refillSpares(logger: fixture.logger)
            #expect(try await fixture.spareDatabases().isEmpty)
            let agent = try await fixture.makeAgent()
            let first = try #require(try await disabled.deploy(agent.id, logger: fixture.logger).database)
            #expect(first.created && !first.fromSpare)
            #expect(try await fixture.spareDatabases().isEmpty)
            #expect(try await disabled.provisioner.spareCount(logger: fixture.logger) == 0)
            let again = try #require(try await disabled.deploy(agent.id, logger: fixture.logger).database)
            #expect(!again.created && again.url == first.url)

            // Spares left by an earlier setting stay untouched.
            await fixture.deployer(try fixture.byoConfiguration()).refillSpares(logger: fixture.logger)
            let leftovers = try await fixture.spareDatabases()
            #expect(leftovers.count == 2)
            let second = try #require(try await disabled.deploy(try await fixture.makeAgent().id, logger: fixture.logger).database)
            #expect(second.created && !second.fromSpare)
            #expect(try await fixture.spareDatabases() == leftovers)
        }
    }

    // Undeploy --drop-database drops the agent's database and role only; lowering the pool size trims the excess.
    @Test
    func undeployLeavesSparesAlone() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let deployer = fixture.deployer(try fixture.byoConfiguration())
            let agent = try await fixture.makeAgent()
            let database = try #require(try await deployer.deploy(agent.id, logger: fixture.logger).database)
            let spares = try await fixture.spareDatabases()
            #expect(spares.count == 2)
            let outcome = try await deployer.undeploy(agent.id, dropDatabase: true, logger: fixture.logger)
            #expect(outcome.dropped)
            #expect(try await !fixture.databaseExists(database.name))
            #expect(try await fixture.spareDatabases() == spares)

            try await fixture.byoConfiguration(["AGENT_DB_SPARE_DATABASES": "1"]).makeProvisioner().refillSpares(logger: fixture.logger)
            #expect(try await fixture.spareDatabases().count == 1)
        }
    }

    // Spares are not agents: not in the store, not located, and an agent whose name looks like a spare's is never
    // counted or claimed as one (agent names end in `_agent`, spares in 16 hex digits).
    @Test
    func sparesAreNotAgents() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let configuration = try fixture.byoConfiguration()
            let provisioner = configuration.makeProvisioner()
            try await provisioner.refillSpares(logger: fixture.logger)
            let spares = try await fixture.spareDatabases()
            #expect(spares.count == 2)
            #expect(try await fixture.store.agents.list(projectId: fixture.projectId).items.isEmpty)
            #expect(try await fixture.namespaceDatabases().isEmpty)
            let lookalike = "spare_0123456789abcdef"
            let error = await #expect(throws: AgentDatabaseError.self) { try await provisioner.locate(agentId: lookalike, logger: fixture.logger) }
            #expect(error?.kind == .notProvisioned)

            let database = try await provisioner.provision(agentId: lookalike, logger: fixture.logger)
            #expect(database.name == fixture.namespace + "_spare_0123456789abcdef_agent")
            #expect(database.fromSpare)
            try await provisioner.refillSpares(logger: fixture.logger)
            #expect(try await provisioner.spareCount(logger: fixture.logger) == 2)
            #expect(try await !fixture.spareDatabases().contains(database.name))
            for index in 0..<3 { _ = try await provisioner.provision(agentId: "next-\(index)", logger: fixture.logger) }
            #expect(try await fixture.databaseExists(database.name))
            try await AgentDatabaseFixture.writeAndRead(url: database.url)
        }
    }

    /// What the agent sees of its database, with its name replaced by `self`: the `pg_database` row's owner,
    /// ACL and flags, then the schemas with their owners and ACLs, read inside the database as the superuser.
    func catalogState(of name: String, fixture: AgentDatabaseFixture) async throws -> [String] {
        func anonymised(_ text: String) -> String { text.replacingOccurrences(of: name, with: "self") }
        var state = try await fixture.superuserStrings(
            """
            SELECT 'owner=' || pg_get_userbyid(datdba) || ' acl=' || coalesce(datacl::text, 'default') || ' allowconn=' || datallowconn
                || ' template=' || datistemplate || ' connlimit=' || datconnlimit
            FROM pg_database WHERE datname = $1
            """, name
        ).map(anonymised)
        var info = fixture.superuserInfo
        info.database = name
        let connection = try await AgentDatabaseFixture.connect(info)
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query(
            "SELECT nspname || ' ' || pg_get_userbyid(nspowner) || ' ' || coalesce(nspacl::text, 'default') FROM pg_namespace ORDER BY nspname",
            logger: fixture.logger
        )
        for try await row in rows.decode(String.self) { state.append(anonymised(row)) }
        return state
    }
}
