import Crypto
import Foundation
import SQLKit

/// Service tokens: `dvt_<prefix>_<secret>`. Only a SHA-256 hash of the whole token is stored;
/// the prefix finds the row, and the hashes are compared in constant time.
public struct TokenRepository: Sendable {
    let database: Database
    let usage: TokenUsageRecorder

    public init(database: Database, usage: TokenUsageRecorder = TokenUsageRecorder()) {
        self.database = database
        self.usage = usage
    }

    static let columns: SQLQueryString = "id, name, prefix, scope, expires_at, revoked_at, last_used_at, use_count, created_at"

    static func decode(_ row: any SQLRow) throws -> ServiceToken {
        ServiceToken(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            prefix: try row.decode(column: "prefix", as: String.self),
            scope: TokenScope(rawValue: try row.decode(column: "scope", as: String.self)) ?? .read,
            expiresAt: try row.decode(column: "expires_at", as: Timestamp?.self),
            revokedAt: try row.decode(column: "revoked_at", as: Timestamp?.self),
            lastUsedAt: try row.decode(column: "last_used_at", as: Timestamp?.self),
            useCount: try row.decode(column: "use_count", as: Int64.self),
            createdAt: try row.decode(column: "created_at", as: Timestamp.self)
        )
    }

    static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    public func create(name: String, scope: TokenScope, expiresIn seconds: Int64? = nil) async throws -> CreatedServiceToken {
        let now = Timestamp.now()
        if let seconds, seconds <= 0 || seconds > 100 * 365 * 86_400 {
            throw StoreError.invalid("expiry must be in the future and within 100 years.", field: "expires_in")
        }
        let prefix = Self.randomHex(bytes: 6)
        let secret = "dvt_\(prefix)_\(Self.randomHex(bytes: 24))"
        let token = ServiceToken(
            id: UUIDv7.generate(), name: try Validation.name(name), prefix: prefix, scope: scope,
            expiresAt: seconds.map { now.adding(seconds: $0) }, revokedAt: nil, lastUsedAt: nil, useCount: 0, createdAt: now
        )
        try await database.write { sql in
            try await sql.raw("""
                INSERT INTO service_tokens (id, name, prefix, secret_hash, scope, expires_at, use_count, created_at)
                VALUES (\(bind: token.id), \(bind: token.name), \(bind: prefix), \(bind: Self.hash(secret)), \(bind: scope.rawValue),
                        \(bind: token.expiresAt), 0, \(bind: now))
                """).run()
        }
        return CreatedServiceToken(token: token, secret: secret)
    }

    /// Every token, with the uses recorded so far written first (best effort) so the counts are current.
    public func list() async throws -> [ServiceToken] {
        await usage.flush(database)
        return try await database.read { sql in try await sql.raw("SELECT \(Self.columns) FROM service_tokens ORDER BY id").all().map(Self.decode) }
    }

    /// Revokes one token, named by its id or by its name; revoking twice is harmless.
    ///
    /// A name is taken only when it picks out one token: names are not unique, and revoking every token
    /// that happens to share a name would cut off clients nobody meant to touch.
    public func revoke(_ idOrName: String) async throws -> ServiceToken {
        let key = try Validation.text(idOrName, field: "id", maxLength: 200)
        let now = Timestamp.now()
        return try await database.write { sql in
            let matches = try await sql.raw("""
                SELECT id, revoked_at FROM service_tokens WHERE id = \(bind: key) OR name = \(bind: key) ORDER BY id
                """).all()
            let ids = try matches.map { try $0.decode(column: "id", as: String.self) }
            guard !ids.isEmpty else { throw StoreError(.notFound, "No service token with id or name '\(key)' exists.") }
            var target = ids[0]
            if ids.contains(key) {
                target = key
            } else if ids.count > 1 {
                // Several tokens share the name: take the only one still active, else ask for the id.
                let active = try matches.filter { try $0.decode(column: "revoked_at", as: Timestamp?.self) == nil }
                    .map { try $0.decode(column: "id", as: String.self) }
                guard active.count == 1 else {
                    throw StoreError.conflict(
                        "\(ids.count) service tokens are named '\(key)'; revoke one by its id (\(ids.joined(separator: ", ")))."
                    )
                }
                target = active[0]
            }
            guard let token = try await sql.raw("""
                UPDATE service_tokens SET revoked_at = COALESCE(revoked_at, \(bind: now))
                WHERE id = \(bind: target) RETURNING \(Self.columns)
                """).first().map(Self.decode)
            else { throw StoreError(.notFound, "No service token with id or name '\(key)' exists.") }
            return token
        }
    }

    /// The token's current state, for long-lived requests (event streams) that must end when it is
    /// revoked or expires; nil when it no longer exists.
    public func current(id: String) async throws -> ServiceToken? {
        try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns) FROM service_tokens WHERE id = \(bind: id)").first().map(Self.decode)
        }
    }

    /// Tokens that can still authenticate (not revoked, not expired).
    public func activeCount(now: Timestamp = .now()) async throws -> Int {
        try await database.read { sql in
            try await sql.raw("""
                SELECT COUNT(*) AS n FROM service_tokens WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > \(bind: now))
                """).first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    public enum AuthenticationFailure: String, Error, Sendable {
        case malformed, unknown, revoked, expired
    }

    /// Checks a presented token and records its use. The comparison takes the same time whether
    /// the prefix exists or not and whichever byte differs.
    public func authenticate(_ presented: String, now: Timestamp = .now()) async throws -> Result<ServiceToken, AuthenticationFailure> {
        let parts = presented.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "dvt", parts[1].count == 12, parts[2].count == 48 else { return .failure(.malformed) }
        let prefix = String(parts[1])
        let row = try await database.read { sql in
            try await sql.raw("SELECT \(Self.columns), secret_hash FROM service_tokens WHERE prefix = \(bind: prefix)").first()
        }
        let storedHash = try row?.decode(column: "secret_hash", as: String.self) ?? String(repeating: "0", count: 64)
        let matches = Self.constantTimeEqual(Self.hash(presented), storedHash)
        guard let row, matches else { return .failure(.unknown) }
        let token = try Self.decode(row)
        if token.revokedAt != nil { return .failure(.revoked) }
        if let expiresAt = token.expiresAt, expiresAt <= now { return .failure(.expired) }
        usage.record(token.id, at: now, database: database)
        return .success(token)
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}
