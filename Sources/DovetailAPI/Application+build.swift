import DovetailStore
import Hummingbird
import Logging

/// Where and how `serve` listens.
public struct APISettings: Sendable {
    public var host: String
    public var port: Int

    public init(host: String = "127.0.0.1", port: Int = 8080) {
        self.host = host
        self.port = port
    }
}

/// Every route of the API over `store`; used by `serve` and by the tests alike.
public func buildRouter(store: Store) -> Router<AppRequestContext> {
    DovetailMetrics.bootstrap()
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    router.add(middleware: BodyLimitMiddleware())
    router.add(middleware: MetricsMiddleware())
    HealthController(store: store).addRoutes(to: router)
    MetricsController().addRoutes(to: router)
    let api = router.group("api")
    ProjectsController(store: store).addRoutes(to: api.group("projects"))
    AgentsController(store: store).addRoutes(to: api.group("agents"))
    TasksController(store: store).addRoutes(to: api.group("tasks"))
    SessionsController(store: store).addRoutes(to: api.group("sessions"))
    return router
}

/// The HTTP application. The store is opened (and migrated) by the caller, which also shuts it
/// down after the application returns, so the pool outlives every request.
public func buildApplication(store: Store, settings: APISettings, logger: Logger) -> some ApplicationProtocol {
    Application(
        router: buildRouter(store: store),
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "dovetail"),
        logger: logger
    )
}
