/// A failure to provision, locate, launch or drop an agent's database, with a message that names
/// what to fix. Messages never contain a password.
public struct AgentDatabaseError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A setting is missing or malformed.
        case configuration
        /// The agent id or namespace cannot name a database.
        case invalidName
        /// The server refused the admin login (wrong password, unknown role).
        case authentication
        /// The admin role lacks CREATEDB / CREATEROLE.
        case permission
        /// The server could not be reached within the retry budget.
        case unavailable
        /// The agent has no database yet (update before deploy).
        case notProvisioned
        /// The launch command failed.
        case launch
        /// The server rejected a statement for another reason.
        case server
    }

    public let kind: Kind
    public let message: String
    /// The PostgreSQL SQLSTATE behind the error, when the server sent one.
    public internal(set) var sqlState: String?

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    func with(sqlState: String) -> Self {
        var copy = self
        copy.sqlState = sqlState
        return copy
    }

    static func configuration(_ message: String) -> Self { .init(.configuration, message) }
    static func invalidName(_ message: String) -> Self { .init(.invalidName, "Invalid agent database name: " + message) }
}
