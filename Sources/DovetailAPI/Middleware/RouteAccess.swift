import DovetailStore
import Hummingbird

/// Which scope each route needs.
///
/// Decided from the route the router matched — its template, such as `/api/tokens/{id}` — never from the
/// raw request path. The router ignores empty segments, so `//api/tokens` and `/api//tokens` reach the
/// tokens routes without starting with `/api/tokens`; a check on the raw string let a write token mint
/// admin tokens that way. Matching on the template makes the check see exactly what the router serves.
enum RouteAccess {
    /// Routes anyone may call: health checks for load balancers and orchestrators.
    static let openRoutes: Set<String> = ["/health", "/health/live", "/health/ready"]

    /// nil when the route needs no token. A path no route matches still needs `read`, so an anonymous
    /// caller cannot map the API by probing for 404s.
    static func requiredScope(method: HTTPRequest.Method, route: String?) -> TokenScope? {
        guard let route, route != "NotFound" else { return .read }
        if openRoutes.contains(route) { return nil }
        if route == "/api/tokens" || route.hasPrefix("/api/tokens/") { return .admin }
        return method == .get || method == .head ? .read : .write
    }
}
