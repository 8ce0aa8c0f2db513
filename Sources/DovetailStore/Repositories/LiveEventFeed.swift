import Synchronization

/// Carries appends made by other processes to this process's streams: on PostgreSQL a `LISTEN` on the
/// channel every append announces (`Dialect.sessionEventNotification`) wakes the watching streams; on SQLite
/// there is nothing to listen to and streams rely on in-process wake-ups and their poll.
///
/// `serve` starts the listener once the store is open and migrated; a live stream starts it too if nothing did
/// (tests, embedders), while the CLI's other commands never open the extra connection. It lives as long as the
/// store (`shutdown`).
final class LiveEventFeed: Sendable {
    private enum Phase {
        case idle
        case running(any ChannelListener)
        case unavailable
        case stopped
    }

    private let database: Database
    private let notifier: SessionEventNotifier
    private let phase = Mutex(Phase.idle)

    init(database: Database, notifier: SessionEventNotifier) {
        self.database = database
        self.notifier = notifier
    }

    /// Starts listening unless already listening, stopped, or the engine has nothing to listen to. Cheap to call
    /// again: every stream does.
    func start() {
        let listener = phase.withLock { phase -> (any ChannelListener)? in
            guard case .idle = phase else { return nil }
            let notifier = self.notifier
            guard let listener = database.channelListener(on: Dialect.sessionEventChannel, handler: { event in
                switch event {
                case .notification(let sessionId):
                    notifier.didAppend(sessionId: sessionId)
                case .listening:
                    notifier.setHearsOtherProcesses(true)
                    notifier.wakeAll()
                case .lost:
                    notifier.setHearsOtherProcesses(false)
                    notifier.wakeAll()
                }
            }) else {
                phase = .unavailable
                return nil
            }
            phase = .running(listener)
            return listener
        }
        listener?.start()
    }

    var isListening: Bool {
        phase.withLock { phase in
            guard case .running(let listener) = phase else { return false }
            return listener.isListening
        }
    }

    /// Closes the listening connection (bounded: see `ChannelListener.shutdown`); later `start`s do nothing.
    func shutdown() async {
        let listener = phase.withLock { phase -> (any ChannelListener)? in
            defer { phase = .stopped }
            guard case .running(let listener) = phase else { return nil }
            return listener
        }
        notifier.setHearsOtherProcesses(false)
        await listener?.shutdown()
    }
}
