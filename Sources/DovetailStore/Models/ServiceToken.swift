/// What a token may do; each scope includes the ones below it.
public enum TokenScope: String, Sendable, Codable, CaseIterable, Comparable {
    case read, write, admin

    private var rank: Int {
        switch self {
        case .read: 0
        case .write: 1
        case .admin: 2
        }
    }

    public static func < (lhs: TokenScope, rhs: TokenScope) -> Bool { lhs.rank < rhs.rank }
}

/// A service token as stored: never the secret, only its hash and a lookup prefix.
public struct ServiceToken: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id, name, prefix, scope
        case expiresAt = "expires_at"
        case revokedAt = "revoked_at"
        case lastUsedAt = "last_used_at"
        case useCount = "use_count"
        case createdAt = "created_at"
    }

    public var id: String
    public var name: String
    public var prefix: String
    public var scope: TokenScope
    public var expiresAt: Timestamp?
    public var revokedAt: Timestamp?
    public var lastUsedAt: Timestamp?
    public var useCount: Int64
    public var createdAt: Timestamp
}

/// A token just made: the only time its secret exists outside the caller's hands.
public struct CreatedServiceToken: Sendable, Codable {
    public var token: ServiceToken
    public var secret: String
}
