import DovetailStore
import DovetailTesting
import Foundation
import Testing

/// `dovetail agents …` run as a user runs it. Dovetail's own store is on each persistent backend; the
/// agents' databases are SQLite files next to a SQLite store, and PostgreSQL roles and databases (on
/// the test server, bring-your-own mode) next to a PostgreSQL store, so both agent backends go through
/// the command line.
@Suite("dovetail agents")
struct AgentsCLITests {
    @Test(arguments: TestBackend.persistent)
    func deployUpdateUndeployListShow(_ backend: TestBackend) async throws {
        try await TestSupport.withDatabaseURL(backend) { url in
            let directory = try CLIRunner.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            var environment = ["DOVETAIL_DATA_DIR": directory.path + "/data", "NAMESPACE": "cli"]
            var secret: String?
            switch url {
            case .sqlite(.file(let path)):
                environment["DATABASE_URL"] = "sqlite:///" + path
            case .postgres(let info):
                environment["DATABASE_URL"] = info.urlString
                environment["USE_POSTGRESQL_FOR_AGENTS"] = "true"
                environment["AGENT_DB_HOST"] = info.host
                environment["AGENT_DB_PORT"] = String(info.port)
                environment["AGENT_DB_ADMIN_USER"] = info.username
                environment["AGENT_DB_ADMIN_PASSWORD"] = info.password
                secret = info.password
            default:
                Issue.record("unexpected URL")
                return
            }
            // The launch step writes the URL it was given, so the test can connect with it.
            environment["AGENT_DEPLOY_COMMAND"] = #"printf '%s' "$DATABASE_URL" > launched-{{ id }}.url"#
            let cli = CLIRunner(directory: directory, environment: environment)
            #expect(try await cli.run("db", "migrate").status == 0)

            let store = try await Store.open(url, logger: TestSupport.logger)
            let project = try await store.projects.create(NewProject(name: "CLI agents"))
            let agent = try await store.agents.create(NewAgent(projectId: project.id, name: "coder"))
            let waiting = try await store.agents.create(NewAgent(projectId: project.id, name: "never deployed"))
            await store.shutdown()

            let first = try await cli.run("agents", "deploy", agent.id)
            #expect(first.status == 0, "\(first.all)")
            #expect(first.stdout.contains("Deployed agent \(agent.id) (coder): status deployed"), "\(first.stdout)")
            #expect(first.stdout.contains("(created)"))
            let name = "cli_\(agent.id.replacingOccurrences(of: "-", with: "_"))_agent"
            #expect(first.stdout.contains("database \(name)"))
            let launchedURL = try String(contentsOf: directory.appendingPathComponent("launched-\(agent.id).url"), encoding: .utf8)
            #expect(launchedURL.contains(name), "the launch step gets the agent's own DATABASE_URL: \(launchedURL)")
            if let secret { #expect(!first.all.contains(secret), "the admin password must not be printed") }

            let again = try await cli.run("agents", "deploy", agent.id, "--json")
            #expect(again.status == 0, "\(again.all)")
            let deployed = try JSONDecoder().decode(Agent.self, from: Data(again.stdout.utf8))
            #expect(deployed.status == .deployed && deployed.databaseName == name)
            #expect(deployed.databaseBackend == (secret == nil ? "sqlite" : "postgres"))

            let list = try await cli.run("agents", "list", "--project-id", project.id)
            #expect(list.status == 0)
            #expect(list.stdout.contains(agent.id) && list.stdout.contains("deployed") && list.stdout.contains(name))
            #expect(list.stdout.contains(waiting.id) && list.stdout.contains("registered"))
            let show = try await cli.run("agents", "show", agent.id)
            #expect(show.status == 0 && show.stdout.contains("status:    deployed"), "\(show.all)")
            // By name: unique names work, a name shared across projects is refused with the ids to use.
            let byName = try await cli.run("agents", "show", "never deployed")
            #expect(byName.status == 0 && byName.stdout.contains(waiting.id), "\(byName.all)")
            let byNameUpdate = try await cli.run("agents", "update", "coder")
            #expect(byNameUpdate.status == 0, "\(byNameUpdate.all)")

            #expect(try await cli.run("agents", "update", agent.id).status == 0)
            let early = try await cli.run("agents", "update", waiting.id)
            #expect(early.status != 0)
            #expect(early.stderr.contains("deploy"), "update before deploy says to deploy first: \(early.stderr)")

            let kept = try await cli.run("agents", "undeploy", agent.id)
            #expect(kept.status == 0 && kept.stdout.contains("database \(name) kept"), "\(kept.all)")
            let dropped = try await cli.run("agents", "undeploy", agent.id, "--drop-database")
            #expect(dropped.status == 0 && dropped.stdout.contains("dropped"), "\(dropped.all)")
            let gone = try await cli.run("agents", "update", agent.id)
            #expect(gone.status != 0, "update after the database was dropped must fail: \(gone.all)")

            let store2 = try await Store.open(url, logger: TestSupport.logger)
            let otherProject = try await store2.projects.create(NewProject(name: "Other"))
            let twin = try await store2.agents.create(NewAgent(projectId: otherProject.id, name: "coder"))
            await store2.shutdown()
            let ambiguous = try await cli.run("agents", "deploy", "coder")
            #expect(ambiguous.status != 0)
            #expect(ambiguous.stderr.contains(agent.id) && ambiguous.stderr.contains(twin.id), "\(ambiguous.stderr)")

            let unknown = try await cli.run("agents", "deploy", "no-such-agent")
            #expect(unknown.status != 0)
            #expect(unknown.stderr.contains("no-such-agent"), "\(unknown.stderr)")
        }
    }

    @Test
    func configurationErrorsAreOneLine() async throws {
        let directory = try CLIRunner.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("dovetail.db").path
        let cli = CLIRunner(directory: directory, environment: [
            "DATABASE_URL": "sqlite:///" + path, "USE_POSTGRESQL_FOR_AGENTS": "true", "AGENT_DB_HOST": "127.0.0.1",
            "AGENT_DB_ADMIN_PASSWORD": "not-shown-anywhere",
        ])
        let outcome = try await cli.run("agents", "deploy", "some-agent")
        #expect(outcome.status == 2, "\(outcome.all)")
        #expect(outcome.stderr.contains("AGENT_DB_ADMIN_USER"), "\(outcome.stderr)")
        #expect(!outcome.all.contains("not-shown-anywhere"))
    }
}
