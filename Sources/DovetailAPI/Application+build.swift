import DovetailOps
import DovetailStore
import Hummingbird
import Logging

/// Where and how `serve` listens.
public struct APISettings: Sendable {
    public var host: String
    public var port: Int
    /// Require a service token on every route but `/health`.
    public var authRequired: Bool
    /// `HISTORY_RETENTION_DAYS`; nil runs no background purge.
    public var retentionDays: Int?
    /// Where `POST /api/agents/{id}/deploy` puts agents' databases (`USE_POSTGRESQL_FOR_AGENTS` and friends).
    public var agentDatabases = AgentDatabaseConfiguration()

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
        router: buildRouter(store: store, authRequired: settings.authRequired, agentDatabases: settings.agentDatabases),
        server: .problemHTTP1(),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "dovetail"),
        logger: logger
    )
    if let days = settings.retentionDays {
        app.addServices(RetentionService(store: store, days: days, logger: logger))
    }
    return app
}
