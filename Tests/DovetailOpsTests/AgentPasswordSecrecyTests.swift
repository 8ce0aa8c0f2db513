import DovetailStore
import DovetailTesting
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import DovetailOps

/// Issue 17, item 4: an agent's password never crosses into a statement (PostgreSQL gets a SCRAM verifier), never
/// reaches the server log, is masked in launch output and `last_error`, and deploys of one agent take turns.
/// Agents on SQLite have no role and no password: only the turn-taking applies to them, and it is tested on both.
@Suite("Agent passwords stay secret")
struct AgentPasswordSecrecyTests {
    /// PostgreSQL computes a verifier from a plaintext password itself; ours, with the same salt, must be identical, or
    /// clients that normalise like the server (libpq) could not log in. Covers SASLprep's mapping, NFKC, the fallback to
    /// raw bytes (prohibited, unassigned in Unicode 3.2, bidirectional failures) and pure ASCII.
    @Test
    func verifierMatchesWhatPostgreSQLComputes() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let passwords = [
                "plain-ASCII_pw", "ctl\u{1}char", "ünïcødé", "u\u{308}mlaut", "ﬁne Ｆｕｌｌ", "no\u{00A0}break\u{2003}space", "soft\u{00AD}hyphen",
                "key 🔑", "שלום", "abcשלום", "private\u{E000}use", "it's a \"p@ss\" 100% $HOME \\ ünï 🔑",
            ]
            #expect(SASLprep.prepare("ﬁne Ｆｕｌｌ") == Array("fine Full".utf8))
            for (index, password) in passwords.enumerated() {
                let role = fixture.namespace + "_scram\(index)"
                // Test roles only: this is the plaintext statement Dovetail itself no longer sends.
                try await fixture.superuser("CREATE ROLE \(quote(role)) PASSWORD \(PostgresAgentProvisioner.quoteLiteral(password))")
                let stored = try #require(try await fixture.superuserStrings("SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).first)
                let servers = try #require(ScramVerifier(text: stored), "\(stored)")
                let ours = ScramVerifier(password: password, salt: servers.salt, iterations: servers.iterations)
                #expect(ours == servers, "password #\(index) \(password.debugDescription)")
                #expect(ours.text == stored)
            }
        }
    }

    /// Roles get a verifier (pg_authid says SCRAM-SHA-256, 4096 iterations, a 16-byte salt) and the agent logs in with
    /// its URL: a derived password, and a shared one full of special characters.
    @Test
    func rolesGetAVerifierThatAuthenticates() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let special = "it's a \"p@ss\" 100% $HOME \\back ünïcødé 🔑"
            for extra in [[:], ["AGENT_DB_APPLICATION_PASSWORD": special]] {
                let deployer = fixture.deployer(try fixture.byoConfiguration(extra))
                let agent = try await fixture.makeAgent()
                let database = try #require(try await deployer.deploy(agent.id, logger: fixture.logger).database)
                let stored = try #require(
                    try await fixture.superuserStrings("SELECT rolpassword FROM pg_authid WHERE rolname = $1", database.name).first
                )
                #expect(stored.hasPrefix("SCRAM-SHA-256$4096:"))
                #expect(ScramVerifier(text: stored)?.salt.count == 16)
                try await AgentDatabaseFixture.writeAndRead(url: database.url)
                // A re-deploy sets a fresh verifier of the same password: the URL handed out before still works.
                _ = try await deployer.deploy(agent.id, logger: fixture.logger)
                try await AgentDatabaseFixture.writeAndRead(url: database.url)
            }
        }
    }

    /// With every statement of the admin logged (`log_statement = all`, stronger than the default, which logs failing
    /// ones), twin deploys, an update, a deploy whose `ALTER ROLE` fails, and an undeploy leave no password in the log.
    @Test
    func noPasswordReachesTheServerLog() async throws {
        let dedicated = try await PostgresTestServer.startDedicated()
        defer { Task { await dedicated.destroy() } }
        let logFile = try #require(dedicated.logFilePath)
        try await AgentDatabaseFixture.with(server: dedicated) { fixture in
            try await fixture.superuser("ALTER ROLE \(quote(fixture.adminUser)) SET log_statement = 'all'")
            let password = "log-canary \"p@ss\" 100%/ünï 🔑"
            let shared = fixture.deployer(try fixture.byoConfiguration(["AGENT_DB_APPLICATION_PASSWORD": password]))
            let derived = fixture.deployer(try fixture.byoConfiguration())

            let twin = try await fixture.makeAgent("twin")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { _ = try await shared.deploy(twin.id, logger: fixture.logger) } }
                try await group.waitForAll()
            }
            _ = try await shared.update(twin.id, logger: fixture.logger)
            let other = try #require(try await derived.deploy(try await fixture.makeAgent("derived").id, logger: fixture.logger).database)
            guard case .postgres(let otherInfo) = try DatabaseURL(parsing: other.url) else { Issue.record("expected PostgreSQL"); return }
            let derivedPassword = try #require(otherInfo.password)

            // A role by the agent's name that the admin may not alter (a superuser): ALTER ROLE fails and is logged as an error.
            let blocked = try await fixture.makeAgent("blocked")
            let blockedName = try shared.configuration.databaseName(for: blocked.id).value
            try await fixture.superuser("CREATE ROLE \(quote(blockedName)) SUPERUSER")
            let failure = await #expect(throws: AgentDatabaseError.self) { try await shared.deploy(blocked.id, logger: fixture.logger) }
            #expect(failure?.kind == .permission)
            #expect(failure?.message.contains(password) == false)
            _ = try await shared.undeploy(twin.id, dropDatabase: true, logger: fixture.logger)

            let log = try String(contentsOfFile: logFile, encoding: .utf8)
            #expect(log.contains("ALTER ROLE") && log.contains("SCRAM-SHA-256$4096:"), "the admin's statements were logged")
            #expect(log.contains("ERROR:"), "the failing ALTER ROLE was logged")
            for secret in [password, AgentSecretMask.percentEncode(password), derivedPassword] {
                #expect(!log.contains(secret), "a password reached the server log")
            }
        }
    }

    /// A launch command that prints the password (bare and percent-encoded, in either hex case) gets it masked in the
    /// returned output, in the error, and in `last_error` — for deploy, update and undeploy, shared and derived passwords.
    @Test
    func launchOutputAndLastErrorMaskThePassword() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let password = "mask-me \"p@ss\" 100%/ünï"
            let spellings = [password, AgentSecretMask.percentEncode(password), AgentSecretMask.percentEncode(password, uppercaseHex: false)]
            let printing = "printf '%s\\n' " + spellings.map(shell).joined(separator: " ")
            func expectMasked(_ text: String?, _ what: String) {
                for spelling in spellings { #expect(text?.contains(spelling) == false, "\(what) holds the password") }
                #expect(text?.contains("***") == true, "\(what): \(text ?? "nil")")
            }
            let agent = try await fixture.makeAgent()
            let failing = fixture.deployer(
                try fixture.byoConfiguration([
                    "AGENT_DB_APPLICATION_PASSWORD": password, "AGENT_DEPLOY_COMMAND": printing + "; exit 3",
                    "AGENT_UNDEPLOY_COMMAND": printing + "; exit 5",
                ])
            )
            let error = await #expect(throws: AgentDatabaseError.self) { try await failing.deploy(agent.id, logger: fixture.logger) }
            #expect(error?.kind == .launch)
            expectMasked(error?.message, "the deploy error")
            expectMasked(try await fixture.store.agents.get(agent.id).lastError, "last_error after deploy")

            let working = fixture.deployer(
                try fixture.byoConfiguration([
                    "AGENT_DB_APPLICATION_PASSWORD": password, "AGENT_DEPLOY_COMMAND": printing, "AGENT_UPDATE_COMMAND": printing,
                ])
            )
            expectMasked(try await working.deploy(agent.id, logger: fixture.logger).commandOutput, "deploy output")
            expectMasked(try await working.update(agent.id, logger: fixture.logger).commandOutput, "update output")
            await #expect(throws: AgentDatabaseError.self) { try await failing.undeploy(agent.id, logger: fixture.logger) }
            expectMasked(try await fixture.store.agents.get(agent.id).lastError, "last_error after undeploy")

            // A derived password, cut out of DATABASE_URL by the command itself.
            let cut = "printf '%s\\n' \"$DATABASE_URL\" | sed -E 's|^[^:]*://[^:]*:([^@]*)@.*$|bare=\\1|'; exit 4"
            let derived = fixture.deployer(try fixture.byoConfiguration(["AGENT_DEPLOY_COMMAND": cut]))
            let second = try await fixture.makeAgent("derived")
            let derivedError = await #expect(throws: AgentDatabaseError.self) { try await derived.deploy(second.id, logger: fixture.logger) }
            #expect(derivedError?.message.contains("bare=***") == true, "\(derivedError?.message ?? "")")
            #expect(try await fixture.store.agents.get(second.id).lastError?.contains("bare=***") == true)
        }
    }

    /// Three deploys and an update of one agent at once run one after another, on SQLite and on PostgreSQL: their launch
    /// commands never overlap (each writes `start`, sleeps, writes `end`).
    @Test
    func operationsOnOneAgentTakeTurns() async throws {
        try await AgentDatabaseFixture.with { fixture in
            for backend in ["sqlite", "postgres"] {
                let trace = fixture.directory + "/trace-\(backend)"
                let command = "echo start >> \(shell(trace)); sleep 0.3; echo end >> \(shell(trace))"
                let launch = ["AGENT_DEPLOY_COMMAND": command, "AGENT_UPDATE_COMMAND": command]
                let configuration =
                    backend == "sqlite"
                    ? try AgentDatabaseConfiguration(environment: launch.merging(["DOVETAIL_DATA_DIR": fixture.directory + "/data"]) { $1 })
                    : try fixture.byoConfiguration(launch)
                let deployer = fixture.deployer(configuration)
                let agent = try await fixture.makeAgent(backend)
                _ = try await deployer.deploy(agent.id, logger: fixture.logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<3 { group.addTask { _ = try await deployer.deploy(agent.id, logger: fixture.logger) } }
                    group.addTask { _ = try await deployer.update(agent.id, logger: fixture.logger) }
                    try await group.waitForAll()
                }
                let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map(String.init)
                #expect(lines == Array(repeating: ["start", "end"], count: 5).flatMap { $0 }, "\(backend): \(lines)")
                #expect(try await fixture.store.agents.get(agent.id).status == .deployed)
            }
        }
    }

    /// Another process (here a superuser session) holding the agent's advisory lock makes `provision` wait for it:
    /// replicas deploying one agent take turns on the server as well.
    @Test
    func provisioningWaitsForAnotherProcessesLock() async throws {
        try await AgentDatabaseFixture.with { fixture in
            let configuration = try fixture.byoConfiguration()
            let provisioner = configuration.makeProvisioner()
            let agentId = "locked-" + UUID().uuidString.prefix(8)
            let name = try configuration.databaseName(for: agentId).value
            let holder = try await AgentDatabaseFixture.connect(fixture.superuserInfo)
            var key = PostgresBindings()
            key.append(AdminSession.agentLockKey(name))
            try await holder.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_lock(hashtext($1))", binds: key), logger: fixture.logger)
            let logger = fixture.logger
            let provisioning = Task { try await provisioner.provision(agentId: agentId, logger: logger) }
            try await Task.sleep(for: .seconds(1))
            #expect(try await !fixture.roleExists(name), "provision ran while another process held the agent's lock")
            try await holder.query(PostgresQuery(unsafeSQL: "SELECT pg_advisory_unlock(hashtext($1))", binds: key), logger: fixture.logger)
            try? await holder.close()
            let database = try await provisioning.value
            #expect(database.created && database.name == name)
            #expect(try await fixture.roleExists(name))
        }
    }
}
