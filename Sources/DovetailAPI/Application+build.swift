import DovetailOps
import DovetailStore
import Hummingbird
import Logging
import NIOCore

/// Where and how `serve` listens.
public struct APISettings: Sendable {
    public var host: String
    public var port: Int
    /// Require a service token on every route but `/health`.
    public var authRequired: Bool
    /// `HISTORY_RETENTION_DAYS`; nil runs no background purge.
    public var retentionDays: Int?
    /// `RETENTION_INTERVAL`: how often the background purge runs (in the one replica holding its lock), and so
    /// how soon another replica takes over after the holder dies.
    public var retentionInterval: Duration = .seconds(3600)
    /// How often the replica holding its lock tops up the spare agent databases (besides after each deploy).
    public var spareRefillInterval: Duration = .seconds(300)
    /// Where `POST /api/agents/{id}/deploy` puts agents' databases (`USE_POSTGRESQL_FOR_AGENTS` and friends).
    public var agentDatabases = AgentDatabaseConfiguration()

    /// A connection that sends nothing for this long while its request is being read, or between
    /// requests, is closed. Without it a client that sends half a request and stops holds a connection
    /// (and a file descriptor) forever: enough of them lock everyone out, and one delays SIGTERM by the
    /// whole shutdown timeout. Responses in progress (event streams) are never cut by it.
    public var connectionIdleTimeout: TimeAmount = .seconds(15)

    public init(host: String = "127.0.0.1", port: Int = 8080, authRequired: Bool = false, retentionDays: Int? = nil) {
        self.host = host
        self.port = port
        self.authRequired = authRequired
        self.retentionDays = retentionDays
    }

}

/// Every route of the API over `store`; used by `serve` and by the tests alike.
public func buildRouter(
    store: Store, authRequired: Bool = false, agentDatabases: AgentDatabaseConfiguration = AgentDatabaseConfiguration()
) -> Router<AppRequestContext> {
    DovetailMetrics.bootstrap()
    let router = Router(context: AppRequestContext.self)
    // Metrics first, so it records the status every error was turned into (a 401 is a 401, not a 500).
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: BodyLimitMiddleware())
    router.add(middleware: AuthMiddleware(store: store, required: authRequired))
    HealthController(store: store).addRoutes(to: router)
    MetricsController().addRoutes(to: router)
    let api = router.group("api")
    ProjectsController(store: store).addRoutes(to: api.group("projects"))
    AgentsController(store: store, deployer: AgentDeployer(store: store, configuration: agentDatabases)).addRoutes(to: api.group("agents"))
    TasksController(store: store).addRoutes(to: api.group("tasks"))
    SessionsController(store: store).addRoutes(to: api.group("sessions"))
    WorkflowsController(store: store).addRoutes(to: api.group("workflows"))
    CheckpointsController(store: store).addRoutes(to: api.group("checkpoints"))
    RunsController(store: store).addRoutes(to: api.group("runs"))
    TokensController(store: store).addRoutes(to: api.group("tokens"))
    SearchController(store: store).addRoutes(to: api)
    return router
}

/// The HTTP application. The store is opened (and migrated) by the caller, which also shuts it
/// down after the application returns, so the pool outlives every request.
public func buildApplication(store: Store, settings: APISettings, logger: Logger) -> some ApplicationProtocol {
    var app = Application(
        responder: buildRouter(store: store, authRequired: settings.authRequired, agentDatabases: settings.agentDatabases).headAnsweringResponder(),
        server: .problemHTTP1(configuration: .init(idleTimeout: settings.connectionIdleTimeout)),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "dovetail"),
        logger: logger
    )
    if let days = settings.retentionDays {
        app.addServices(RetentionService(store: store, days: days, interval: settings.retentionInterval, logger: logger))
    }
    if settings.agentDatabases.backendName == "postgres", settings.agentDatabases.spareDatabases > 0 {
        // At start-up, so the first deploys find spares, and then now and then, so a pool that deploys drained
        // while their own refill failed is topped up again; each deploy that makes a database also refills it.
        let deployer = AgentDeployer(store: store, configuration: settings.agentDatabases)
        let lock = store.database.backgroundJobLock(.agentSpareDatabases, logger: logger)
        app.addServices(BackgroundJobService(lock: lock, interval: settings.spareRefillInterval, logger: logger) {
            await deployer.refillSpares(logger: logger)
        })
    }
    return app
}
