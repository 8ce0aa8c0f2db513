import Crypto

/// The name of an agent's database and role: `{namespace}_{agentId}_agent`, sanitised.
///
/// Sanitising lower-cases, turns `-` (and every other character outside `[a-z0-9_]`) into `_`, so the
/// name never needs more than plain double quotes. PostgreSQL truncates identifiers at 63 bytes
/// silently, which would make two long ids share a database; a name over the limit is instead cut
/// and given a SHA-256 suffix of the full name, so it stays deterministic and distinct.
public struct AgentDatabaseName: Sendable, Equatable, CustomStringConvertible {
    public static let maximumLength = 63
    public static let reserved: Set<String> = ["postgres", "template0", "template1"]

    public let value: String

    public var description: String { value }

    public init(namespace: String, agentId: String) throws(AgentDatabaseError) {
        let namespace = Self.sanitise(namespace)
        let id = Self.sanitise(agentId)
        guard !namespace.isEmpty else {
            throw .invalidName("NAMESPACE is empty after sanitising; use letters, digits and '_' (the default is 'dovetail').")
        }
        guard !id.isEmpty else { throw .invalidName("the agent id '\(agentId)' has no letters or digits to name a database after.") }
        let full = "\(namespace)_\(id)_agent"
        guard !Self.reserved.contains(full), !Self.reserved.contains(id) else {
            throw .invalidName("'\(full)' is a reserved PostgreSQL database name; choose another agent id.")
        }
        if full.utf8.count <= Self.maximumLength {
            value = full
        } else {
            // 16 hex digits (64 bits) of SHA-256 of the whole untruncated name: collisions need ~2^32 agents.
            let digest = SHA256.hash(data: Array(full.utf8)).map { byte in
                let hex = String(byte, radix: 16)
                return hex.count == 1 ? "0" + hex : hex
            }.joined()
            let suffix = "_" + digest.prefix(16) + "_agent"
            value = String(full.prefix(Self.maximumLength - suffix.count)) + suffix
        }
    }

    /// Lower case, `[a-z0-9_]` only: every other character becomes `_`.
    public static func sanitise(_ text: String) -> String {
        String(
            text.lowercased().unicodeScalars.map { scalar -> Character in
                switch scalar {
                case "a"..."z", "0"..."9", "_": Character(scalar)
                default: "_"
                }
            }
        )
    }
}
