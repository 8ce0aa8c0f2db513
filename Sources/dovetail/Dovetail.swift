import ArgumentParser
import DovetailStore

@main
struct Dovetail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dovetail",
        abstract: "The backend of an AI-agent platform, on SQLite or PostgreSQL.",
        version: DovetailVersion.current,
        subcommands: [Serve.self, DB.self, Agents.self, Tokens.self, Postgres.self, Health.self]
    )
}
