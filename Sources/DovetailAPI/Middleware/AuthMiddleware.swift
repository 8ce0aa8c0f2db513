import DovetailStore
import Foundation
import Hummingbird

/// Establishes the caller of every request and, when authentication is required, refuses callers
/// without the scope the matched route needs (`RouteAccess`): reads need `read`, writes need `write`,
/// token management needs `admin`.
///
/// It runs after the router has matched the route (Hummingbird builds router middleware into each
/// endpoint's responder), so `context.endpointPath` is the route template the request will reach.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let store: Store
    let required: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        guard required else {
            context.caller = .trustedLoopback
            return try await next(request, context)
        }
        let scope = RouteAccess.requiredScope(method: request.method, route: context.endpointPath)
        let presented = Self.bearerToken(request)
        guard let scope else {
            // An open route: a valid token still identifies the caller (it may see more), a bad one is ignored.
            if let presented, case .success(let token) = try await store.tokens.authenticate(presented) {
                context.caller = .token(token)
            }
            return try await next(request, context)
        }
        guard let presented else {
            throw Problem(status: .unauthorized, slug: "unauthenticated", detail: "This route needs Authorization: Bearer <token>; create one with `dovetail tokens create`.")
        }
        switch try await store.tokens.authenticate(presented) {
        case .failure(let reason):
            throw Problem(status: .unauthorized, slug: "unauthenticated", detail: Self.detail(reason))
        case .success(let token):
            guard token.scope >= scope else {
                throw Problem(status: .forbidden, slug: "insufficient-scope", detail: "This route needs a token with \(scope.rawValue) scope; this one has \(token.scope.rawValue).")
            }
            context.caller = .token(token)
            return try await next(request, context)
        }
    }

    /// The credentials of `Authorization: Bearer …`; the scheme name is case-insensitive (RFC 9110 §11.1).
    static func bearerToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
    }

    static func detail(_ reason: TokenRepository.AuthenticationFailure) -> String {
        switch reason {
        case .malformed: "The bearer token is not a Dovetail token."
        case .unknown: "The bearer token is not valid."
        case .revoked: "The bearer token has been revoked."
        case .expired: "The bearer token has expired."
        }
    }
}
