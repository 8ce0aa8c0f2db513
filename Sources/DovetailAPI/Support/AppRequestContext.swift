import DovetailStore
import Hummingbird

/// The request context of every Dovetail route: bodies over 1 MiB are refused with 413.
public struct AppRequestContext: RequestContext {
    public static let maximumBodySize = 1024 * 1024

    public var coreContext: CoreRequestContextStorage
    /// Who is calling, as `AuthMiddleware` established it before the route ran.
    public var caller: Caller = .anonymous

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.maximumBodySize }
}

/// The identity a request proved. Routes that show more to some callers than to others (`/health`)
/// and streams that must end when their token does (SSE) read it.
public enum Caller: Sendable {
    /// No token presented (or an invalid one, on a route that needs none).
    case anonymous
    /// Authentication is off: a loopback listener without `DOVETAIL_AUTH=required` trusts every caller.
    case trustedLoopback
    /// A valid service token.
    case token(ServiceToken)

    /// The service token the caller presented, when it presented a valid one.
    public var token: ServiceToken? {
        if case .token(let token) = self { return token }
        return nil
    }

    /// Whether the caller may see what a read token may see.
    public var mayRead: Bool {
        switch self {
        case .anonymous: false
        case .trustedLoopback, .token: true
        }
    }
}
