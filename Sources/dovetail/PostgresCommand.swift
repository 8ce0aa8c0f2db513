import ArgumentParser
import DovetailOps
import DovetailStore
import Foundation

extension ManagedPostgresEngine: ExpressibleByArgument {}

struct Postgres: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "postgres",
        abstract: "A managed local PostgreSQL, run from this machine's PostgreSQL binaries or in Docker.",
        discussion: """
            `init` generates credentials, writes them to .env (mode 0600, other lines kept) and starts the server on \
            127.0.0.1. The other commands read .env and the data directory, so they need no flags.
            """,
        subcommands: [Init.self, Start.self, Stop.self, Restart.self, Status.self, Logs.self, PrintURL.self]
    )

    /// Where the managed server lives; every subcommand takes it.
    struct Location: ParsableArguments {
        @Option(
            name: .customLong("data-dir"),
            help: "The managed server's directory (default POSTGRES_DATA_DIR from .env, else ./data/postgres)."
        )
        var dataDirectory: String?

        var managed: ManagedPostgres { ManagedPostgres(dataDirectory: self.dataDirectory) }
    }

    /// Progress lines go to standard output at once, so they interleave correctly with errors on standard error.
    static let report: ManagedPostgres.Reporter = { line in
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// `CLI.run`, with the managed server's errors mapped to exit codes: 3 when the server cannot be reached, 1 otherwise.
    static func run(_ body: () async throws -> Void) async throws {
        try await CLI.run {
            do {
                try await body()
            } catch let error as ManagedPostgresError {
                throw CLIFailure(error.message, code: error.isUnavailable ? 3 : 1)
            }
        }
    }

    static func seconds(_ value: Double) -> Duration {
        .milliseconds(Int64(value * 1000))
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a managed PostgreSQL with new credentials in .env, and start it.",
            discussion: """
                native: initdb with password authentication, listening on 127.0.0.1 only, logging to <data-dir>/postgres.log; \
                as root the server runs as the `postgres` system user (or --run-as). docker: writes compose.yml and runs \
                `docker compose up -d`. Refuses an initialised directory or existing credentials in .env unless --force.
                """
        )

        @Option(help: "native (the default where PostgreSQL server binaries are found) or docker.")
        var engine: ManagedPostgresEngine?

        @Option(help: "TCP port on 127.0.0.1.")
        var port: Int = ManagedPostgres.defaultPort

        @OptionGroup var location: Location

        @Option(name: .customLong("run-as"), help: "As root, the system user that runs the native server (default postgres).")
        var runAs: String?

        @Flag(help: "Delete an existing managed server and its data, and replace existing credentials in .env (kept in .env.bak).")
        var force = false

        @Flag(name: .customLong("no-start"), help: "Prepare only; start later with `dovetail postgres start`.")
        var noStart = false

        @Option(help: "Seconds to wait for the server to accept connections.")
        var timeout: Double = 60

        func validate() throws {
            guard (1...65535).contains(port) else { throw ValidationError("--port must be between 1 and 65535.") }
            guard timeout > 0 else { throw ValidationError("--timeout must be a positive number of seconds.") }
            if engine == .docker, runAs != nil { throw ValidationError("--run-as applies to the native engine only.") }
        }

        func run() async throws {
            try await Postgres.run {
                let options = ManagedPostgres.InitOptions(
                    engine: engine,
                    port: port,
                    runAs: runAs,
                    force: force,
                    start: !noStart,
                    timeout: Postgres.seconds(timeout)
                )
                let result = try await location.managed.initialize(options, report: Postgres.report)
                Postgres.report("DATABASE_URL=\(result.connection.redactedURLString) (password in .env)")
                Postgres.report("Next: `dovetail db migrate`, or `dovetail serve` (it reads DATABASE_URL from .env).")
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the managed PostgreSQL and wait until it accepts connections.")

        @OptionGroup var location: Location

        @Option(help: "Seconds to wait for the server to accept connections with the credentials of .env.")
        var timeout: Double = 60

        func run() async throws {
            try await Postgres.run {
                try await location.managed.start(timeout: Postgres.seconds(timeout), report: Postgres.report)
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop the managed PostgreSQL (fast shutdown); the data is kept unless --purge.")

        @OptionGroup var location: Location

        @Flag(help: "Also delete the data directory, and the managed credentials in .env, after a confirmation.")
        var purge = false

        @Flag(help: "With --purge: do not ask for confirmation.")
        var yes = false

        func run() async throws {
            try await Postgres.run {
                let managed = location.managed
                guard purge else {
                    try await managed.stop(report: Postgres.report)
                    return
                }
                if !yes {
                    let directory = managed.paths.dataDirectorySetting
                    FileHandle.standardError.write(
                        Data("This deletes \(directory) and every database in it, for good. Type 'yes' to continue: ".utf8)
                    )
                    let answer = readLine()
                    // A terminal echoes the Return key; piped input does not, so end the question's line here.
                    if isatty(STDIN_FILENO) == 0 { FileHandle.standardError.write(Data("\n".utf8)) }
                    guard answer?.trimmingCharacters(in: .whitespaces).lowercased() == "yes" else {
                        throw CLIFailure("not confirmed; nothing was deleted. Pass --yes to skip the question.", code: 1)
                    }
                }
                try await managed.purge(report: Postgres.report)
            }
        }
    }

    struct Restart: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop, then start the managed PostgreSQL.")

        @OptionGroup var location: Location

        @Option(help: "Seconds to wait for the server to accept connections.")
        var timeout: Double = 60

        func run() async throws {
            try await Postgres.run {
                try await location.managed.restart(timeout: Postgres.seconds(timeout), report: Postgres.report)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the managed PostgreSQL: engine, server, connections, credentials, versions, vector extension.",
            discussion: "Exits 1 when it is not healthy (not running, not accepting connections, or the credentials in .env fail)."
        )

        @OptionGroup var location: Location

        @Flag(help: "Print JSON.")
        var json = false

        func run() async throws {
            try await Postgres.run {
                let status = await location.managed.status()
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                    print(String(decoding: try encoder.encode(status), as: UTF8.self))
                } else {
                    print(status.lines.joined(separator: "\n"))
                }
                if !status.healthy { throw ExitCode(1) }
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the server log of the managed PostgreSQL.")

        @OptionGroup var location: Location

        @Option(help: "How many of the last lines to show.")
        var tail: Int = 50

        @Flag(help: "Keep showing new lines until interrupted (Ctrl-C).")
        var follow = false

        func validate() throws {
            guard tail >= 0 else { throw ValidationError("--tail must be 0 or more.") }
        }

        func run() async throws {
            try await Postgres.run {
                let managed = location.managed
                if follow {
                    try await managed.followLogs(tail: tail) { text in FileHandle.standardOutput.write(Data(text.utf8)) }
                } else {
                    let text = try await managed.logs(tail: tail)
                    if !text.isEmpty { print(text) }
                }
            }
        }
    }

    struct PrintURL: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "url",
            abstract: "Print the DATABASE_URL of the managed PostgreSQL (password hidden unless --show-password)."
        )

        @OptionGroup var location: Location

        @Flag(name: .customLong("show-password"), help: "Include the password, e.g. for `psql \"$(dovetail postgres url --show-password)\"`.")
        var showPassword = false

        func run() async throws {
            try await Postgres.run {
                let info = try location.managed.connectionInfo()
                print(showPassword ? info.urlString : info.redactedURLString)
            }
        }
    }
}
