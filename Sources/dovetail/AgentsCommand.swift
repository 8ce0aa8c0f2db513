import ArgumentParser
import DovetailOps
import DovetailStore
import Foundation

struct Agents: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents",
        abstract: "Agent lifecycle with a database per agent (SQLite file, or PostgreSQL role and database).",
        subcommands: [Deploy.self, Update.self, Undeploy.self, List.self, Show.self]
    )

    static func agentDatabaseConfiguration(_ configuration: DovetailConfiguration) throws -> AgentDatabaseConfiguration {
        do {
            return try AgentDatabaseConfiguration(environment: configuration.environment)
        } catch {
            throw CLIFailure("configuration error: \(error.message)", code: 2)
        }
    }

    /// Opens the store, builds the deployer from the environment and runs `body`; provisioning errors become one clear line.
    static func withDeployer(_ options: DatabaseOptions, _ body: @escaping (AgentDeployer) async throws -> Void) async throws {
        let agentDatabases = try agentDatabaseConfiguration(try options.loadConfiguration())
        try await DB.withStore(options) { store in
            do {
                // One-shot commands refill the spare pool themselves, after the result is printed (see Deploy).
                try await body(AgentDeployer(store: store, configuration: agentDatabases, spareRefill: .byCaller))
            } catch let error as AgentDatabaseError {
                throw CLIFailure(error.message, code: error.kind == .unavailable ? 3 : 1)
            }
        }
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func report(_ verb: String, _ outcome: AgentDeployer.Outcome, json: Bool) throws {
        if json { return try printJSON(outcome.agent) }
        if let output = outcome.commandOutput, !output.isEmpty { print(output, terminator: output.hasSuffix("\n") ? "" : "\n") }
        var line = "\(verb) agent \(outcome.agent.id) (\(outcome.agent.name)): status \(outcome.agent.status.rawValue)"
        if let database = outcome.database {
            line += ", database \(database.name) on \(database.backend)"
            if verb == "Deployed" { line += database.created ? " (created)" : " (reused)" }
            line += "\nDATABASE_URL \(database.redactedURL)"
        } else if outcome.dropped {
            line += ", database and role dropped"
        } else if let name = outcome.agent.databaseName {
            line += ", database \(name) kept"
        }
        print(line)
    }

    struct Deploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create or reuse the agent's database, then run AGENT_DEPLOY_COMMAND with its DATABASE_URL."
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The agent's id, or its name when no other project has an agent of that name.") var agent: String
        @Option(help: "Configuration file passed to the launch command as {{ config_file }} (default: the agent's configuration JSON).")
        var config: String?
        @Flag(help: "Print the agent as JSON.") var json = false

        func run() async throws {
            try await CLI.run {
                try await Agents.withDeployer(database) { deployer in
                    let logger = CLI.makeLogger("dovetail.agents")
                    let outcome = try await deployer.deploy(try await deployer.store.agents.get(idOrName: agent).id, configFile: config, logger: logger)
                    try Agents.report("Deployed", outcome, json: json)
                    // The result is out; top the spare pool up before exiting so the next deploy (CLI or API) finds one
                    // ready. A failure here is only logged: the deploy itself succeeded.
                    if outcome.database?.created == true, outcome.database?.backend == "postgres" {
                        fflush(nil)  // all output streams: the result is visible before the refill starts
                        await deployer.refillSpares(logger: logger)
                    }
                }
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run AGENT_UPDATE_COMMAND with the agent's existing database; never creates one.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The agent's id, or its name when no other project has an agent of that name.") var agent: String
        @Option(help: "Configuration file passed to the launch command as {{ config_file }}.") var config: String?
        @Flag(help: "Print the agent as JSON.") var json = false

        func run() async throws {
            try await CLI.run {
                try await Agents.withDeployer(database) { deployer in
                    let outcome = try await deployer.update(try await deployer.store.agents.get(idOrName: agent).id, configFile: config, logger: CLI.makeLogger("dovetail.agents"))
                    try Agents.report("Updated", outcome, json: json)
                }
            }
        }
    }

    struct Undeploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run AGENT_UNDEPLOY_COMMAND; keeps the database unless --drop-database or CLEANUP_AGENT_DATABASES=true."
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The agent's id, or its name when no other project has an agent of that name.") var agent: String
        @Flag(name: .customLong("drop-database"), help: "Terminate the agent's connections and drop its database and role.")
        var dropDatabase = false
        @Flag(help: "Print the agent as JSON.") var json = false

        func run() async throws {
            try await CLI.run {
                try await Agents.withDeployer(database) { deployer in
                    let outcome = try await deployer.undeploy(try await deployer.store.agents.get(idOrName: agent).id, dropDatabase: dropDatabase ? true : nil, logger: CLI.makeLogger("dovetail.agents"))
                    try Agents.report("Undeployed", outcome, json: json)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agents with their status and database.")
        @OptionGroup var database: DatabaseOptions
        @Option(name: .customLong("project-id"), help: "Only this project's agents.") var projectId: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CLI.run {
                try await DB.withStore(database) { store in
                    var agents: [Agent] = []
                    var cursor: String?
                    repeat {
                        let page = try await store.agents.list(projectId: projectId, PageRequest(limit: 100, cursor: cursor))
                        agents += page.items
                        cursor = page.nextCursor
                    } while cursor != nil
                    if json { return try Agents.printJSON(agents) }
                    if agents.isEmpty { return print("No agents.") }
                    for agent in agents {
                        let database = agent.databaseName.map { "\($0) (\(agent.databaseBackend ?? "?"))" } ?? "-"
                        print("\(agent.id)  \(agent.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0))  \(agent.name)  \(database)")
                    }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one agent: status, database, last error.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The agent's id, or its name when no other project has an agent of that name.") var agent: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CLI.run {
                try await DB.withStore(database) { store in
                    let agent = try await store.agents.get(idOrName: self.agent)
                    if json { return try Agents.printJSON(agent) }
                    print("id:        \(agent.id)")
                    print("name:      \(agent.name)")
                    print("project:   \(agent.projectId)")
                    print("status:    \(agent.status.rawValue)")
                    print("database:  \(agent.databaseName ?? "-")\(agent.databaseBackend.map { " (\($0))" } ?? "")")
                    if let lastError = agent.lastError { print("error:     \(lastError)") }
                }
            }
        }
    }
}
