import DovetailOps
import DovetailStore
import DovetailTesting
import Foundation
import PostgresNIO
import Testing

@Suite("Agent database names")
struct AgentDatabaseNameTests {
    @Test
    func sanitisesAndNamespaces() throws {
        let name = try AgentDatabaseName(namespace: "Sam", agentId: "019ADB94-32f3-75d3-87fa-908c0e8054a4")
        #expect(name.value == "sam_019adb94_32f3_75d3_87fa_908c0e8054a4_agent")
        #expect(AgentDatabaseName.sanitise("a.b c\"d'é") == "a_b_c_d__")
    }

    @Test
    func refusesReservedAndEmptyNames() {
        #expect(throws: AgentDatabaseError.self) { try AgentDatabaseName(namespace: "dovetail", agentId: "postgres") }
        #expect(throws: AgentDatabaseError.self) { try AgentDatabaseName(namespace: "dovetail", agentId: "template1") }
        #expect(throws: AgentDatabaseError.self) { try AgentDatabaseName(namespace: "", agentId: "x") }
        #expect(throws: AgentDatabaseError.self) { try AgentDatabaseName(namespace: "dovetail", agentId: "") }
    }

    @Test
    func shortensLongNamesDeterministicallyWithoutCollisions() throws {
        let base = String(repeating: "x", count: 70)
        let first = try AgentDatabaseName(namespace: "dovetail", agentId: base + "1")
        let second = try AgentDatabaseName(namespace: "dovetail", agentId: base + "2")
        #expect(first.value.utf8.count == 63)
        #expect(second.value.utf8.count == 63)
        #expect(first != second)
        #expect(first == (try AgentDatabaseName(namespace: "dovetail", agentId: base + "1")))
        #expect(first.value.hasSuffix("_agent"))
        #expect(first.value.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
    }

    @Test
    func readsConfiguration() throws {
        let sqlite = try AgentDatabaseConfiguration(environment: [:])
        #expect(sqlite.backend == .sqlite)
        #expect(sqlite.namespace == "dovetail")
        #expect(sqlite.cleanupOnUndeploy == false)
        #expect(throws: AgentDatabaseError.self) { try AgentDatabaseConfiguration(environment: ["USE_POSTGRESQL_FOR_AGENTS": "true"]) }
        #expect(throws: AgentDatabaseError.self) { try AgentDatabaseConfiguration(environment: ["CLEANUP_AGENT_DATABASES": "maybe"]) }
        let byo = try AgentDatabaseConfiguration(environment: [
            "USE_POSTGRESQL_FOR_AGENTS": "true", "AGENT_DB_HOST": "db.example", "AGENT_DB_ADMIN_USER": "adm", "AGENT_DB_ADMIN_PASSWORD": " p w ",
        ])
        guard case .postgres(let admin, let mode) = byo.backend else { Issue.record("expected PostgreSQL"); return }
        #expect(mode == .bringYourOwn)
        #expect(admin.password == " p w ")
        #expect(admin.port == 5432)
        #expect(admin.database == "postgres")
    }

    @Test
    func quotesIdentifiersAndLiterals() {
        #expect(PostgresAgentProvisioner.quoteIdentifier("a\"b") == "\"a\"\"b\"")
        #expect(PostgresAgentProvisioner.quoteLiteral("it's \\ x") == "'it''s \\ x'")
    }
}

/// The reference document's 12-case matrix, plus isolation and the long-name case, against a real PostgreSQL.
@Suite("Agent databases")
struct AgentDatabaseTests {
    // 1. SQLite (the default): a file per agent, no PostgreSQL involved; the launch step receives DATABASE_URL.
    @Test
    func sqliteIsTheDefault() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let output = fixture.directory + "/launched"
            let configuration = try AgentDatabaseConfiguration(environment: [
                "DOVETAIL_DATA_DIR": fixture.directory + "/data",
                "AGENT_DEPLOY_COMMAND": "printf '%s|%s|%s' \"$DATABASE_URL\" {{ id }} {{ config_file }} > " + shell(output),
            ])
            let agent = try await fixture.makeAgent()
            let outcome = try await fixture.deployer(configuration).deploy(agent.id, logger: fixture.logger)
            #expect(outcome.agent.status == .deployed)
            #expect(outcome.agent.databaseBackend == "sqlite")
            let database = try #require(outcome.database)
            #expect(database.url.hasPrefix("sqlite:////"))
            let path = String(database.url.dropFirst("sqlite:///".count))
            #expect(FileManager.default.fileExists(atPath: path))
            let launched = try String(contentsOfFile: output, encoding: .utf8).split(separator: "|").map(String.init)
            #expect(launched[0] == database.url)
            #expect(launched[1] == agent.id)
            #expect(FileManager.default.fileExists(atPath: launched[2]))
            // A second deploy reuses the file.
            let again = try await fixture.deployer(configuration).deploy(agent.id, logger: fixture.logger)
            #expect(again.database?.created == false)
            // Undeploy with --drop-database removes it.
            let undeployed = try await fixture.deployer(configuration).undeploy(agent.id, dropDatabase: true, logger: fixture.logger)
            #expect(undeployed.agent.status == .undeployed)
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    // 2. Managed mode: with no AGENT_DB_HOST, the admin connection is the managed server's superuser, read from the
    //    keys `dovetail postgres init` writes to `.env` (here pointing at the test server's superuser).
    @Test
    func managedPostgres() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let admin = fixture.superuserInfo
            let configuration = try AgentDatabaseConfiguration(environment: [
                "USE_POSTGRESQL_FOR_AGENTS": "true", "NAMESPACE": fixture.namespace, "DOVETAIL_DATA_DIR": fixture.directory + "/data",
                "POSTGRES_USER": admin.username, "POSTGRES_PASSWORD": try #require(admin.password), "POSTGRES_PORT": String(admin.port),
                "POSTGRES_DB": "dovetail",
            ])
            guard case .postgres(_, let mode) = configuration.backend else { Issue.record("expected PostgreSQL"); return }
            #expect(mode == .managed)
            let agent = try await fixture.makeAgent()
            let outcome = try await fixture.deployer(configuration).deploy(agent.id, logger: fixture.logger)
            let database = try #require(outcome.database)
            #expect(database.name == "\(fixture.namespace)_\(AgentDatabaseName.sanitise(agent.id))_agent")
            try await AgentDatabaseFixture.writeAndRead(url: database.url)
        }
    }

    // 3. Bring-your-own server with a non-superuser admin; the agent's role owns its database and has no other powers.
    // 4. A second agent gets a second database.
    @Test
    func bringYourOwnPostgresAndASecondAgent() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let deployer = fixture.deployer(try fixture.byoConfiguration())
            let first = try await deployer.deploy(try await fixture.makeAgent("one").id, logger: fixture.logger)
            let second = try await deployer.deploy(try await fixture.makeAgent("two").id, logger: fixture.logger)
            let firstDatabase = try #require(first.database)
            let secondDatabase = try #require(second.database)
            #expect(firstDatabase.name != secondDatabase.name)
            #expect(firstDatabase.created && secondDatabase.created)
            #expect(first.agent.status == .deployed && first.agent.databaseName == firstDatabase.name && first.agent.databaseBackend == "postgres")
            #expect(try await fixture.namespaceDatabases() == [firstDatabase.name, secondDatabase.name].sorted())
            #expect(!firstDatabase.redactedURL.contains(String(firstDatabase.url.split(separator: ":")[2].split(separator: "@")[0])))
            try await AgentDatabaseFixture.writeAndRead(url: firstDatabase.url)
            let owner = try await fixture.superuserStrings(
                "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1", firstDatabase.name
            )
            #expect(owner == [firstDatabase.name])
            let attributes = try await fixture.superuserStrings(
                "SELECT rolsuper::text || rolcreatedb::text || rolcreaterole::text || rolcanlogin::text FROM pg_roles WHERE rolname = $1",
                firstDatabase.name
            )
            #expect(attributes == ["falsefalsefalsetrue"])
        }
    }

    // 5. Deploy, undeploy (keeping the database), deploy again: same database, data kept.
    @Test
    func redeployReusesTheDatabaseAndKeepsData() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let deployer = fixture.deployer(try fixture.byoConfiguration())
            let agent = try await fixture.makeAgent()
            let first = try #require(try await deployer.deploy(agent.id, logger: fixture.logger).database)
            try await AgentDatabaseFixture.writeAndRead(url: first.url)
            _ = try await deployer.undeploy(agent.id, logger: fixture.logger)
            let second = try #require(try await deployer.deploy(agent.id, logger: fixture.logger).database)
            #expect(second.name == first.name)
            #expect(second.url == first.url)
            #expect(!second.created)
            let connection = try await AgentDatabaseFixture.connect(url: second.url)
            defer { Task { try? await connection.close() } }
            var notes: [String] = []
            for try await note in try await connection.query("SELECT note FROM notes", logger: fixture.logger).decode(String.self) { notes.append(note) }
            #expect(notes == ["hello"])
        }
    }

    // 6. Update never creates a database: refused before deploy, and after deploy creates nothing new.
    @Test
    func updateCreatesNothing() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let output = fixture.directory + "/updated"
            let deployer = fixture.deployer(try fixture.byoConfiguration(["AGENT_UPDATE_COMMAND": "printf '%s' \"$DATABASE_URL\" > " + shell(output)]))
            let agent = try await fixture.makeAgent()
            let error = await #expect(throws: AgentDatabaseError.self) { try await deployer.update(agent.id, logger: fixture.logger) }
            #expect(error?.kind == .notProvisioned)
            #expect(try await fixture.namespaceDatabases().isEmpty)
            #expect(!FileManager.default.fileExists(atPath: output))
            let deployed = try #require(try await deployer.deploy(agent.id, logger: fixture.logger).database)
            let before = try await fixture.namespaceDatabases()
            let updated = try await deployer.update(agent.id, logger: fixture.logger)
            #expect(updated.database?.url == deployed.url)
            #expect(updated.agent.status == .deployed)
            #expect(try await fixture.namespaceDatabases() == before)
            #expect(try String(contentsOfFile: output, encoding: .utf8) == deployed.url)
        }
    }

    // 7. CLEANUP_AGENT_DATABASES=true drops the database and role, ending the agent's open connections.
    // 8. Without it (the default) undeploy keeps both.
    @Test
    func undeployKeepsOrDropsTheDatabase() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let keeping = fixture.deployer(try fixture.byoConfiguration())
            let kept = try await fixture.makeAgent("kept")
            let keptDatabase = try #require(try await keeping.deploy(kept.id, logger: fixture.logger).database)
            let undeployed = try await keeping.undeploy(kept.id, logger: fixture.logger)
            #expect(undeployed.agent.status == .undeployed && !undeployed.dropped)
            #expect(undeployed.agent.databaseName == keptDatabase.name)
            #expect(try await fixture.databaseExists(keptDatabase.name))
            #expect(try await fixture.roleExists(keptDatabase.name))

            let cleaning = fixture.deployer(try fixture.byoConfiguration(["CLEANUP_AGENT_DATABASES": "true"]))
            let dropped = try await fixture.makeAgent("dropped")
            let droppedDatabase = try #require(try await cleaning.deploy(dropped.id, logger: fixture.logger).database)
            let open = try await AgentDatabaseFixture.connect(url: droppedDatabase.url)
            let outcome = try await cleaning.undeploy(dropped.id, logger: fixture.logger)
            try? await open.close()
            #expect(outcome.dropped)
            #expect(outcome.agent.status == .undeployed && outcome.agent.databaseName == nil)
            #expect(try await !fixture.databaseExists(droppedDatabase.name))
            #expect(try await !fixture.roleExists(droppedDatabase.name))
            // The kept one goes too with an explicit drop (`--drop-database`), and dropping twice is harmless.
            #expect(try await keeping.undeploy(kept.id, dropDatabase: true, logger: fixture.logger).dropped)
            #expect(try await !keeping.undeploy(kept.id, dropDatabase: true, logger: fixture.logger).dropped)
            #expect(try await fixture.namespaceDatabases().isEmpty)
        }
    }

    // 9. A wrong admin password and an admin without CREATEDB/CREATEROLE fail clearly, run no launch step,
    //    leave the agent failed with the reason, and a re-deploy with the fix finishes the job.
    @Test
    func badAdminCredentialsAndMissingRights() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let marker = fixture.directory + "/launched"
            let launch = ["AGENT_DEPLOY_COMMAND": "touch " + shell(marker)]
            let agent = try await fixture.makeAgent()

            let wrongPassword = "wrong-\(fixture.adminPassword)"
            let wrong = fixture.deployer(try fixture.byoConfiguration(launch.merging(["AGENT_DB_ADMIN_PASSWORD": wrongPassword]) { $1 }))
            let authError = await #expect(throws: AgentDatabaseError.self) { try await wrong.deploy(agent.id, logger: fixture.logger) }
            #expect(authError?.kind == .authentication)
            #expect(authError?.message.contains("AGENT_DB_ADMIN_PASSWORD") == true)
            #expect(authError?.message.contains(wrongPassword) == false)
            #expect(!FileManager.default.fileExists(atPath: marker))
            let failed = try await fixture.store.agents.get(agent.id)
            #expect(failed.status == .failed)
            #expect(failed.lastError == authError?.message)

            let weakAdmin = fixture.namespace + "_weak"
            try await fixture.superuser("CREATE ROLE \(quote(weakAdmin)) LOGIN PASSWORD 'weak'")
            let weak = fixture.deployer(
                try fixture.byoConfiguration(launch.merging(["AGENT_DB_ADMIN_USER": weakAdmin, "AGENT_DB_ADMIN_PASSWORD": "weak"]) { $1 })
            )
            let rightsError = await #expect(throws: AgentDatabaseError.self) { try await weak.deploy(agent.id, logger: fixture.logger) }
            #expect(rightsError?.kind == .permission)
            #expect(rightsError?.message.contains("CREATEDB and CREATEROLE") == true)
            #expect(try await fixture.namespaceDatabases().isEmpty)
            #expect(!FileManager.default.fileExists(atPath: marker))

            // Undeploy works on the failed agent; then the fixed configuration deploys it.
            #expect(try await wrong.undeploy(agent.id, logger: fixture.logger).agent.status == .undeployed)
            let fixed = try await fixture.deployer(try fixture.byoConfiguration(launch)).deploy(agent.id, logger: fixture.logger)
            #expect(fixed.agent.status == .deployed && fixed.agent.lastError == nil)
            #expect(FileManager.default.fileExists(atPath: marker))
        }
    }

    // 10. A server that is down: retried with backoff for AGENT_DB_CONNECT_TIMEOUT, then a clear failure; undeploy still works.
    @Test
    func serverDown() async throws {
        let dedicated = try await PostgresTestServer.startDedicated()
        try await dedicated.stop()
        defer { Task { await dedicated.destroy() } }
        try await AgentDatabaseFixture.with { fixture in
            let deployer = fixture.deployer(
                try fixture.byoConfiguration(["AGENT_DB_PORT": String(dedicated.port), "AGENT_DB_CONNECT_TIMEOUT": "1.5"])
            )
            let agent = try await fixture.makeAgent()
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: AgentDatabaseError.self) { try await deployer.deploy(agent.id, logger: fixture.logger) }
            let elapsed = start.duration(to: clock.now)
            #expect(error?.kind == .unavailable)
            #expect(error?.message.contains("AGENT_DB_HOST/AGENT_DB_PORT") == true)
            #expect(error?.message.contains("attempt") == true)
            #expect(elapsed >= .seconds(1.4) && elapsed < .seconds(15))
            #expect(try await fixture.store.agents.get(agent.id).status == .failed)
            #expect(try await deployer.undeploy(agent.id, logger: fixture.logger).agent.status == .undeployed)
        }
    }

    // 11. Passwords with quotes, spaces, '@', '%', '$', backslash and Unicode, shared (AGENT_DB_APPLICATION_PASSWORD) and admin.
    @Test
    func specialCharactersInPasswords() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let password = "it's a \"p@ss\" 100% $HOME `id` \\back\\slash ünïcødé 🔑 ;DROP ROLE x;--"
            let output = fixture.directory + "/url"
            let deployer = fixture.deployer(
                try fixture.byoConfiguration([
                    "AGENT_DB_APPLICATION_PASSWORD": password, "AGENT_DEPLOY_COMMAND": "printf '%s' {{ database_url }} > " + shell(output),
                ])
            )
            let database = try #require(try await deployer.deploy(try await fixture.makeAgent().id, logger: fixture.logger).database)
            guard case .postgres(let info) = try DatabaseURL(parsing: database.url) else { Issue.record("expected PostgreSQL"); return }
            #expect(info.password == password)
            #expect(try String(contentsOfFile: output, encoding: .utf8) == database.url)
            #expect(!database.redactedURL.contains("p%40ss"))
            try await AgentDatabaseFixture.writeAndRead(url: database.url)
        }
    }

    // 12. Ten agents at once get ten databases; and the same agent deployed three times at once is fine.
    @Test
    func concurrentDeploys() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let deployer = fixture.deployer(try fixture.byoConfiguration())
            var agents: [Agent] = []
            for index in 0..<10 { agents.append(try await fixture.makeAgent("c\(index)")) }
            let names = try await withThrowingTaskGroup(of: String.self) { group in
                for agent in agents { group.addTask { try #require(try await deployer.deploy(agent.id, logger: fixture.logger).database).name } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(names).count == 10)
            #expect(try await fixture.namespaceDatabases() == names.sorted())
            let twin = try await fixture.makeAgent("twin")
            let twins = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<3 { group.addTask { try #require(try await deployer.deploy(twin.id, logger: fixture.logger).database).url } }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(twins).count == 1)
            try await AgentDatabaseFixture.writeAndRead(url: twins[0])
        }
    }

    // Isolation: an agent's role cannot connect to another agent's database, create roles or databases, or become another role.
    @Test
    func agentsAreIsolated() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let deployer = fixture.deployer(try fixture.byoConfiguration())
            let a = try #require(try await deployer.deploy(try await fixture.makeAgent("a").id, logger: fixture.logger).database)
            let b = try #require(try await deployer.deploy(try await fixture.makeAgent("b").id, logger: fixture.logger).database)
            try await AgentDatabaseFixture.writeAndRead(url: b.url)
            #expect(a.url != b.url)  // per-agent passwords

            let intrusion = await #expect(throws: (any Error).self) { try await AgentDatabaseFixture.connect(url: a.url, database: b.name) }
            #expect(intrusion.flatMap(sqlState) == "42501")
            let wrongPassword = a.url.replacingOccurrences(of: "://\(a.name):", with: "://\(b.name):")
            let impostor = await #expect(throws: (any Error).self) { try await AgentDatabaseFixture.connect(url: wrongPassword, database: b.name) }
            #expect(impostor.flatMap(sqlState) == "28P01")

            let connection = try await AgentDatabaseFixture.connect(url: a.url)
            defer { Task { try? await connection.close() } }
            for statement in ["CREATE DATABASE \(quote(fixture.namespace + "_rogue"))", "CREATE ROLE \(quote(fixture.namespace + "_rogue"))", "SET ROLE \(quote(b.name))"] {
                let error = await #expect(throws: (any Error).self) { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: fixture.logger) }
                #expect(error.flatMap(sqlState) == "42501", "\(statement)")
            }
        }
    }

    // A long agent id gets a shortened, hashed name that PostgreSQL accepts and that does not collide.
    @Test
    func longAgentIds() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let provisioner = try fixture.byoConfiguration().makeProvisioner()
            let long = String(repeating: "Very-Long-Agent-Id-", count: 5)
            let first = try await provisioner.provision(agentId: long + "A", logger: fixture.logger)
            let second = try await provisioner.provision(agentId: long + "B", logger: fixture.logger)
            #expect(first.name.utf8.count <= 63 && second.name.utf8.count <= 63)
            #expect(first.name != second.name)
            #expect(try await fixture.databaseExists(first.name))
            #expect(try await fixture.databaseExists(second.name))
            try await AgentDatabaseFixture.writeAndRead(url: first.url)
            #expect(try await provisioner.locate(agentId: long + "A", logger: fixture.logger).name == first.name)
            #expect(try await provisioner.drop(agentId: long + "A", logger: fixture.logger))
        }
    }
}

func shell(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
