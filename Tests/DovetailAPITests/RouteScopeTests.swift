import DovetailAPI
import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The scope check must follow the route the router serves, whatever spelling of the path reaches it.
/// The router ignores empty segments, so a check on the raw path (`hasPrefix("/api/tokens")`) let a
/// write token mint admin tokens through `//api/tokens`.
@Suite("Route scopes under every path spelling")
struct RouteScopeTests {
    /// A concrete path for each registered route template (`{id}` → `x`, `{version}` → `1`).
    static func concretePaths(_ routes: [(method: HTTPRequest.Method, template: String)]) -> [(HTTPRequest.Method, String)] {
        routes.map { route in
            let segments = route.template.split(separator: "/").map { segment -> String in
                guard segment.hasPrefix("{") else { return String(segment) }
                return segment.contains("version") ? "1" : "x"
            }
            return (route.method, "/" + segments.joined(separator: "/"))
        }
    }

    /// Spellings of `path` that a client may send: doubled, trailing, encoded slashes, dot segments, case.
    static func variants(of path: String) -> [String] {
        let inner = path.dropFirst()
        var result = ["/" + path, path + "/", path + "//", "/" + inner.replacingOccurrences(of: "/", with: "//"),
                      "/" + inner.replacingOccurrences(of: "/", with: "///"), "/" + inner.replacingOccurrences(of: "/", with: "%2F"),
                      "/" + inner.replacingOccurrences(of: "/", with: "%2f"), "/./" + inner, "/" + inner.replacingOccurrences(of: "/", with: "/./"),
                      "/api/../" + inner, path + "/..", path.uppercased(), "/" + inner.prefix(1).uppercased() + inner.dropFirst()]
        if let slash = inner.firstIndex(of: "/") {
            result.append("/" + inner[..<slash] + "/%2e/" + inner[inner.index(after: slash)...])
        }
        return result
    }

    /// The oracle, independent of the server's code: the route a router that ignores empty segments (and
    /// nothing else) would match, and the scope that route needs.
    static func expectedScope(_ method: HTTPRequest.Method, _ path: String, templates: [(method: HTTPRequest.Method, template: String)]) -> TokenScope?? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        for route in templates where route.method == method {
            let parts = route.template.split(separator: "/")
            guard parts.count == segments.count else { continue }
            let matches = zip(parts, segments).allSatisfy { part, segment in part.hasPrefix("{") || part == segment }
            guard matches else { continue }
            // A literal route wins over a captured one at the same depth (`/api/runs/claim` over `/api/runs/{id}`).
            if ["/health", "/health/live", "/health/ready"].contains(route.template) { return .some(nil) }
            if route.template.hasPrefix("/api/tokens") { return .admin }
            return method == .get ? .read : .write
        }
        return .none
    }

    @Test(arguments: TestBackend.allCases)
    func everyRouteUnderEveryPathVariantChecksScope(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            var secrets: [TokenScope: String] = [:]
            for scope in TokenScope.allCases { secrets[scope] = try await store.tokens.create(name: "t-\(scope.rawValue)", scope: scope).secret }
            let router = buildRouter(store: store, authRequired: true)
            let templates = router.routes.map { (method: $0.method, template: $0.path.description) }
            #expect(templates.count > 40, "the router lists its routes")
            let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            let tokens = secrets
            try await app.test(.router) { client in
                var checked = 0
                for (method, path) in Self.concretePaths(templates) {
                    for variant in [path] + Self.variants(of: path) {
                        let expected = Self.expectedScope(method, variant, templates: templates)
                        let body = method == .get || method == .delete ? nil : "{}"
                        let anonymous = try await client.send(variant, method, json: body)
                        if case .some(.none) = expected {
                            #expect(anonymous.status != .unauthorized, "\(method) \(variant) is an open route")
                        } else {
                            #expect(anonymous.status == .unauthorized, "\(method) \(variant) without a token: \(anonymous.status)")
                        }
                        for scope in TokenScope.allCases {
                            let response = try await client.send(variant, method, json: body, headers: [.authorization: "Bearer \(tokens[scope]!)"])
                            checked += 1
                            switch expected {
                            case .none:
                                #expect(response.status == .notFound, "\(method) \(variant) with \(scope) matches no route: \(response.status)")
                            case .some(.none):
                                #expect(response.status != .unauthorized && response.status != .forbidden)
                            case .some(.some(let needed)) where scope >= needed:
                                #expect(response.status != .unauthorized && response.status != .forbidden, "\(method) \(variant) with \(scope): \(response.status)")
                            case .some(.some):
                                #expect(response.status == .forbidden, "\(method) \(variant) with \(scope): \(response.status)")
                            }
                        }
                    }
                }
                #expect(checked > 1000)
                // The escalation itself: no spelling lets a write token create a token.
                let names = try await store.tokens.list().map(\.name)
                #expect(names.sorted() == ["t-admin", "t-read", "t-write"], "no token was created by a non-admin: \(names)")
            }
        }
    }

    /// Anonymous callers of a server that requires tokens learn only whether it is up and which backend it
    /// runs on; a token of any scope sees where the database is and the schema state.
    @Test(arguments: TestBackend.allCases)
    func healthShowsDetailsOnlyToTokenHolders(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let read = try await store.tokens.create(name: "reader", scope: .read).secret
            let app = Application(router: buildRouter(store: store, authRequired: true), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                let anonymous = try await client.send("/health", .get)
                #expect(anonymous.status == .ok)
                let shown = try #require(try JSONSerialization.jsonObject(with: Data(buffer: anonymous.body)) as? [String: Any])
                #expect(Set(shown.keys) == ["status", "backend"], "anonymous sees \(shown.keys.sorted())")
                let forged = try await client.send("/health", .get, headers: [.authorization: "Bearer dvt_000000000000_" + String(repeating: "0", count: 48)])
                #expect(Set(try #require(try JSONSerialization.jsonObject(with: Data(buffer: forged.body)) as? [String: Any]).keys) == ["status", "backend"])
                let withToken = try await client.send("/health", .get, headers: [.authorization: "Bearer \(read)"])
                let full = try #require(try JSONSerialization.jsonObject(with: Data(buffer: withToken.body)) as? [String: Any])
                #expect(full["database"] != nil && full["schema_version"] != nil && full["round_trip_ms"] != nil)
                // Milliseconds, not seconds: a local round trip is well above a microsecond and below 5 s.
                let milliseconds = try #require(full["round_trip_ms"] as? Double)
                #expect(milliseconds > 0.001 && milliseconds < 5000)
            }
        }
    }
}
