import ArgumentParser
import DovetailAPI
import DovetailOps
import DovetailStore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API (SQLite at ./data/dovetail.db unless DATABASE_URL says otherwise)."
    )

    @OptionGroup var database: DatabaseOptions

    @Option(help: "Address to listen on (default HOST or 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on (default PORT or 8080).")
    var port: Int?

    @Flag(name: .customLong("no-migrate"), help: "Do not apply pending migrations on start.")
    var noMigrate = false

    @Option(name: .customLong("wait-timeout"), help: "Seconds to wait for the database to answer before giving up.")
    var waitTimeout: Double = 60

    @Flag(
        name: .customLong("managed-postgres"),
        help: "Start the managed PostgreSQL (`dovetail postgres init`) if it is not running, and serve from it."
    )
    var managedPostgres = false

    @Option(name: .customLong("data-dir"), help: "With --managed-postgres: the managed server's directory (as for `dovetail postgres`).")
    var dataDirectory: String?

    func validate() throws {
        if managedPostgres, database.databaseURL != nil {
            throw ValidationError("--managed-postgres serves from the managed PostgreSQL; leave out --database-url.")
        }
        if dataDirectory != nil, !managedPostgres {
            throw ValidationError("--data-dir applies only with --managed-postgres.")
        }
    }

    func run() async throws {
        try await CLI.run {
            var extra: [String: String] = [:]
            if let host { extra["HOST"] = host }
            if let port { extra["PORT"] = String(port) }
            let logger = CLI.makeLogger("dovetail.serve")
            if managedPostgres {
                extra["DATABASE_URL"] = try await startManagedPostgres(logger: logger)
            }
            let configuration = try database.loadConfiguration(extra: extra)
            logger.info("Opening database", metadata: ["url": "\(configuration.databaseURL.redacted)"])
            let store = try await CLI.openStore(configuration, waitTimeout: .milliseconds(Int64(waitTimeout * 1000)), logger: logger)
            do {
                if noMigrate {
                    let state = try await store.migrator.state()
                    // An older dovetail must not serve a schema it does not know: it would write rows the newer one
                    // cannot read, or fail on columns it never heard of.
                    try state.refuseNewerDatabase()
                    if !state.pending.isEmpty {
                        logger.warning(
                            "\(state.pending.count) migration(s) pending and --no-migrate given; /health/ready answers 503 until `dovetail db migrate` runs."
                        )
                    }
                } else {
                    try await store.migrator.migrate(logger: logger)
                }
                let authRequired = configuration.authRequired
                if authRequired, try await store.tokens.activeCount() == 0 {
                    throw CLIFailure(
                        "serve on \(configuration.host) requires authentication, but no active service token exists. "
                            + "Create one with `dovetail tokens create --name admin --scope admin`, or listen on 127.0.0.1.",
                        code: 2
                    )
                }
                var settings = APISettings(
                    host: configuration.host, port: configuration.port, authRequired: authRequired, retentionDays: configuration.historyRetentionDays
                )
                settings.retentionInterval = configuration.retentionInterval
                settings.agentDatabases = try Agents.agentDatabaseConfiguration(configuration)
                logger.info("Authentication \(authRequired ? "required" : "off (loopback)"); history kept \(configuration.historyRetentionDays) days")
                // On PostgreSQL, other replicas' event appends reach this one's streams through LISTEN (no-op on SQLite).
                store.listenForEvents()
                // Also starts the background jobs (retention, the spare agent databases), one replica at a time.
                let app = buildApplication(store: store, settings: settings, logger: logger)
                try await Self.run(app, shutdownTimeout: configuration.shutdownTimeout, logger: logger)
            } catch {
                await store.shutdown()
                throw error
            }
            await store.shutdown()
        }
    }

    /// Runs the server until SIGTERM or SIGINT. Requests in flight and open streams get `shutdownTimeout`
    /// to finish; then they are cancelled, and if something still does not end, `ShutdownDeadline` ends
    /// the process a little later.
    private static func run(_ app: some ApplicationProtocol, shutdownTimeout: Duration, logger: Logger) async throws {
        ShutdownDeadline.arm(after: shutdownTimeout + .seconds(5), logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )
        configuration.maximumGracefulShutdownDuration = shutdownTimeout
        configuration.maximumCancellationDuration = .seconds(3)
        try await ServiceGroup(configuration: configuration).run()
    }

    /// Starts the managed server unless it runs and returns its URL, which replaces DATABASE_URL.
    private func startManagedPostgres(logger: Logger) async throws -> String {
        let managed = ManagedPostgres(dataDirectory: dataDirectory)
        do {
            try await managed.start(timeout: .milliseconds(Int64(waitTimeout * 1000))) { line in
                logger.info("\(line)")
            }
            let url = try managed.connectionInfo()
            if let configured = ProcessInfo.processInfo.environment["DATABASE_URL"], !configured.isEmpty, configured != url.urlString {
                logger.warning("DATABASE_URL from the environment is ignored: --managed-postgres serves from \(url.redactedURLString)")
            }
            return url.urlString
        } catch let error as ManagedPostgresError {
            throw CLIFailure(error.message, code: error.isUnavailable ? 3 : 1)
        }
    }
}
