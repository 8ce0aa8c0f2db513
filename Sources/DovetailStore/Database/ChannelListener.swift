/// What a listener on a notification channel reports to its owner.
enum ChannelEvent: Sendable, Equatable {
    /// Another (or this) process announced `payload` on the channel.
    case notification(String)
    /// The listener is subscribed, for the first time or again after losing its connection. Anything announced
    /// while it was not subscribed was missed, so whoever relies on it must re-read what it watches.
    case listening
    /// The connection was lost; until `.listening` comes again, nothing is announced.
    case lost
}

/// A process's subscription to a channel other processes announce changes on. Only engines shared by several
/// processes have one (PostgreSQL's `LISTEN/NOTIFY`); SQLite wakes its streams in-process.
protocol ChannelListener: Sendable {
    /// Starts listening in the background; reconnects by itself until `shutdown`.
    func start()
    /// True while subscribed: announcements arrive as they are made.
    var isListening: Bool { get }
    /// Stops listening and closes the connection; returns within a bounded time, whatever the server does.
    func shutdown() async
}

extension DatabaseEngine {
    /// Engines with no cross-process notifications have no listener.
    func channelListener(on channel: String, handler: @escaping @Sendable (ChannelEvent) -> Void) -> (any ChannelListener)? {
        nil
    }
}
