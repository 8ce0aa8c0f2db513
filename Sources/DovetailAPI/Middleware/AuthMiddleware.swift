import DovetailStore
import Foundation
import Hummingbird

/// When authentication is on, every route but `/health` needs `Authorization: Bearer <token>`
/// with enough scope: reads need `read`, writes need `write`, token management needs `admin`.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let store: Store

    static func requiredScope(method: HTTPRequest.Method, path: String) -> TokenScope? {
        if path == "/health" { return nil }
        if path.hasPrefix("/api/tokens") { return .admin }
        return method == .get || method == .head ? .read : .write
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let required = Self.requiredScope(method: request.method, path: request.uri.path) else { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw Problem(status: .unauthorized, slug: "unauthenticated", detail: "This route needs Authorization: Bearer <token>; create one with `dovetail tokens create`.")
        }
        switch try await store.tokens.authenticate(String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)) {
        case .failure(let reason):
            let detail = switch reason {
            case .malformed: "The bearer token is not a Dovetail token."
            case .unknown: "The bearer token is not valid."
            case .revoked: "The bearer token has been revoked."
            case .expired: "The bearer token has expired."
            }
            throw Problem(status: .unauthorized, slug: "unauthenticated", detail: detail)
        case .success(let token):
            guard token.scope >= required else {
                throw Problem(status: .forbidden, slug: "insufficient-scope", detail: "This route needs a token with \(required.rawValue) scope; this one has \(token.scope.rawValue).")
            }
            return try await next(request, context)
        }
    }
}
