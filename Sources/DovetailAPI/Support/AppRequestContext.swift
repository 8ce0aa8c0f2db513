import Hummingbird

/// The request context of every Dovetail route: bodies over 1 MiB are refused with 413.
public struct AppRequestContext: RequestContext {
    public static let maximumBodySize = 1024 * 1024

    public var coreContext: CoreRequestContextStorage

    public init(source: Source) {
        self.coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.maximumBodySize }
}
