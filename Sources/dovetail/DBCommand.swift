import ArgumentParser
import DovetailStore
import Foundation

struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Schema migrations and health of the configured database; copying data between databases.",
        subcommands: [Migrate.self, Status.self, Check.self, Wait.self, Purge.self, Copy.self, Verify.self]
    )

    /// Opens the configured store for a short command, runs `body` and closes it.
    static func withStore(_ options: DatabaseOptions, waitTimeout: Duration = .seconds(10), _ body: (Store) async throws -> Void) async throws {
        let configuration = try options.loadConfiguration()
        let store = try await CLI.openStore(configuration, waitTimeout: waitTimeout, logger: CLI.makeLogger("dovetail.db"))
        do {
            try await body(store)
        } catch {
            await store.shutdown()
            throw error
        }
        await store.shutdown()
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending migrations, each in its own transaction.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await CLI.run {
                try await DB.withStore(database) { store in
                    let applied = try await store.migrator.migrate(logger: CLI.makeLogger("dovetail.migrate"))
                    if applied.isEmpty {
                        print("Schema is up to date (version \(Migrations.latestVersion)).")
                    } else {
                        for record in applied { print("Applied \(record.version) \(record.name) (\(record.durationMs) ms)") }
                    }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show applied and pending migrations; exits 1 while any are pending.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CLI.run {
                var upToDate = true
                try await DB.withStore(database) { store in
                    let state = try await store.migrator.state()
                    upToDate = state.isUpToDate
                    if json {
                        print(try StatusReport(store: store, state: state).json())
                    } else {
                        print(StatusReport(store: store, state: state).text)
                    }
                }
                if !upToDate { throw ExitCode(1) }
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report drift: applied migrations whose text changed, and schema that differs from what the migrations describe."
        )
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            try await CLI.run {
                var clean = true
                try await DB.withStore(database) { store in
                    let check = try await store.migrator.check()
                    clean = check.isClean
                    for record in check.state.drifted {
                        print("DRIFT migration \(record.version) (\(record.name)): text changed since it was applied (recorded checksum \(record.checksum.prefix(12))…)")
                    }
                    for record in check.state.unknown {
                        print("UNKNOWN migration \(record.version) (\(record.name)) is applied but this dovetail does not know it")
                    }
                    for difference in check.schemaDifferences { print("SCHEMA \(difference)") }
                    if check.schemaDifferences.contains(where: { $0.hasPrefix("full-text search") && $0.hasSuffix(" is missing") }) {
                        print(
                            "`dovetail db copy` into PostgreSQL builds full-text search after loading; a copy interrupted before then leaves it missing. "
                                + "Finish the copy with `dovetail db copy --resume` (or start it over with --truncate): either builds it."
                        )
                    }
                    if !check.state.pending.isEmpty { print("\(check.state.pending.count) migration(s) pending; run `dovetail db migrate`.") }
                    if check.isClean { print("No drift: schema matches migrations 1…\(check.state.currentVersion).") }
                }
                if !clean { throw ExitCode(1) }
            }
        }
    }

    struct Wait: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Wait until the database answers (exponential backoff, capped at 30 s).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Give up after this many seconds.") var timeout: Double = 60

        func run() async throws {
            try await CLI.run {
                let configuration = try database.loadConfiguration()
                let waiter = DatabaseWaiter(timeout: .milliseconds(Int64(timeout * 1000)))
                do {
                    let roundTrip = try await waiter.wait(for: configuration.databaseURL, logger: CLI.makeLogger("dovetail.wait")) { attempt, error, delay in
                        print("attempt \(attempt): \(error) — retrying in \(delay.formatted())")
                    }
                    print("Database is ready: \(configuration.databaseURL.redacted) (round trip \(roundTrip.formatted())).")
                } catch {
                    throw CLIFailure("gave up after \(Int(timeout)) s; last error: \(error)", code: 1)
                }
            }
        }
    }
}

extension DB {
    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete session events, finished runs and deleted sessions older than HISTORY_RETENTION_DAYS, in batches."
        )
        @OptionGroup var database: DatabaseOptions
        @Flag(name: .customLong("dry-run"), help: "Only count what would be deleted.") var dryRun = false
        @Option(help: "Override HISTORY_RETENTION_DAYS.") var days: Int?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await CLI.run {
                let configuration = try database.loadConfiguration()
                let days = days ?? configuration.historyRetentionDays
                guard days >= 1 else { throw ValidationError("--days must be at least 1.") }
                try await DB.withStore(database) { store in
                    let report = try await store.retention.purge(olderThan: RetentionRepository.cutoff(days: days), dryRun: dryRun)
                    if json {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys]
                        print(String(decoding: try encoder.encode(report), as: UTF8.self))
                    } else {
                        let verb = dryRun ? "Would delete" : "Deleted"
                        print("\(verb) history older than \(report.cutoff) (\(days) days):")
                        print("  session events:   \(report.events)")
                        print("  finished runs:    \(report.runs) (with their steps)")
                        print("  deleted sessions: \(report.sessions) (with their messages and events)")
                    }
                }
            }
        }
    }
}

/// `db status` output, as text or JSON.
struct StatusReport {
    let store: Store
    let state: MigrationState

    var text: String {
        var lines = [
            "backend: \(store.dialect.rawValue) (\(store.database.url.redacted))",
            "schema version: \(state.currentVersion) (latest \(Migrations.latestVersion))",
        ]
        for record in state.applied { lines.append("  applied \(record.version) \(record.name) at \(record.appliedAt) (\(record.durationMs) ms)") }
        for migration in state.pending { lines.append("  pending \(migration.version) \(migration.name)") }
        for record in state.drifted { lines.append("  DRIFT \(record.version) \(record.name): text changed since applied (see `dovetail db check`)") }
        for record in state.unknown { lines.append("  UNKNOWN \(record.version) \(record.name): newer than this dovetail") }
        lines.append(state.isUpToDate ? "status: up to date" : "status: \(state.pending.count) pending")
        return lines.joined(separator: "\n")
    }

    struct JSONReport: Encodable {
        struct Pending: Encodable {
            var version: Int
            var name: String
        }

        var backend: String
        var database: String
        var current_version: Int
        var latest_version: Int
        var up_to_date: Bool
        var applied: [MigrationRecord]
        var pending: [Pending]
        var drifted: [MigrationRecord]
        var unknown: [MigrationRecord]
    }

    func json() throws -> String {
        let report = JSONReport(
            backend: store.dialect.rawValue,
            database: store.database.url.redacted,
            current_version: state.currentVersion,
            latest_version: Migrations.latestVersion,
            up_to_date: state.isUpToDate,
            applied: state.applied,
            pending: state.pending.map { .init(version: $0.version, name: $0.name) },
            drifted: state.drifted,
            unknown: state.unknown
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }
}
