import Logging

/// The configured database with every repository over it: what `serve` and the CLI work with.
public struct Store: Sendable {
    public let database: Database
    public let notifier: SessionEventNotifier
    /// Token uses not yet written; shared by every `tokens` repository of this store.
    let tokenUsage = TokenUsageRecorder()
    /// Appends made by other `serve` processes, announced to this one (PostgreSQL `LISTEN`).
    let liveEvents: LiveEventFeed

    public init(database: Database, notifier: SessionEventNotifier = SessionEventNotifier()) {
        self.database = database
        self.notifier = notifier
        self.liveEvents = LiveEventFeed(database: database, notifier: notifier)
    }

    public static func open(_ url: DatabaseURL, pool: PoolSettings = PoolSettings(), logger: Logger) async throws -> Store {
        Store(database: try await Database.open(url, pool: pool, logger: logger))
    }

    public var dialect: Dialect { database.dialect }
    public var migrator: Migrator { Migrator(database: database) }
    public var projects: ProjectRepository { ProjectRepository(database: database) }
    public var agents: AgentRepository { AgentRepository(database: database) }
    public var tasks: TaskRepository { TaskRepository(database: database) }
    public var sessions: SessionRepository { SessionRepository(database: database) }
    public var messages: MessageRepository { MessageRepository(database: database) }
    public var events: SessionEventRepository { SessionEventRepository(database: database, notifier: notifier) }
    public var workflows: WorkflowRepository { WorkflowRepository(database: database) }
    public var runs: RunRepository { RunRepository(database: database) }
    public var checkpoints: CheckpointRepository { CheckpointRepository(database: database) }
    public var tokens: TokenRepository { TokenRepository(database: database, usage: tokenUsage) }
    public var search: SearchRepository { SearchRepository(database: database) }
    public var retention: RetentionRepository { RetentionRepository(database: database) }

    /// Makes appends by other processes wake this process's streams as they commit (PostgreSQL: one
    /// listening connection, started on the first call, reconnecting until `shutdown`). Idempotent; a
    /// live stream calls it before it watches a session.
    public func listenForEvents() {
        liveEvents.start()
    }

    /// True while another process's append reaches this process's streams within milliseconds.
    public var isListeningForEvents: Bool { liveEvents.isListening }

    public func shutdown() async {
        await liveEvents.shutdown()
        await tokenUsage.flush(database)
        await database.shutdown()
    }
}
