import DovetailStore

/// The user, password and database of a managed PostgreSQL.
///
/// Generated per installation, never a shared default: a 32-character password drawn with the system's cryptographic
/// random generator from 75 characters (about 199 bits), and a user name with a random suffix so that a leaked
/// `.env` from one machine says nothing about another.
///
/// The password deliberately contains characters that must be percent-encoded in a URL (`@ % / : ? # & + = ! * , ;`),
/// so that every place that builds or parses `DATABASE_URL` is exercised on every installation instead of on the rare
/// one that happens to draw such a password. It never contains what `.env` readers treat differently — `$`
/// (expanded by Docker Compose and shells), quotes, backslashes, backticks, spaces — so one spelling of `.env`
/// (`KEY='value'`) is read back unchanged by dovetail, Docker Compose, python-dotenv and `sh`.
public struct PostgresCredentials: Sendable, Equatable {
    public var user: String
    public var password: String
    public var database: String

    public init(user: String, password: String, database: String) {
        self.user = user
        self.password = password
        self.database = database
    }

    static let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
    /// Each needs percent-encoding in the user-information part of a URL.
    static let symbols = Array("@%/:?#&+=!*,;")
    static let passwordLength = 32

    /// Fresh credentials for a new server.
    public static func generate() -> PostgresCredentials {
        var generator = SystemRandomNumberGenerator()
        let alphabet = letters + symbols
        var password: [Character]
        repeat {
            password = (0..<passwordLength).map { _ in alphabet.randomElement(using: &generator)! }
        } while !password.contains(where: symbols.contains) || !password.contains(where: { $0.isLetter })
        let suffixAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let suffix = String((0..<8).map { _ in suffixAlphabet.randomElement(using: &generator)! })
        return PostgresCredentials(user: "dovetail_" + suffix, password: String(password), database: "dovetail")
    }

    /// How to reach the managed server on 127.0.0.1 (no TLS: nothing leaves the machine).
    public func connectionInfo(port: Int, database: String? = nil) -> PostgresConnectionInfo {
        PostgresConnectionInfo(
            host: "127.0.0.1",
            port: port,
            username: self.user,
            password: self.password,
            database: database ?? self.database,
            sslMode: .disable
        )
    }
}

extension PostgresCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "PostgresCredentials(user: \(self.user), password: ***, database: \(self.database))" }
    public var debugDescription: String { self.description }
    public var customMirror: Mirror {
        Mirror(self, children: ["user": self.user, "password": "***", "database": self.database], displayStyle: .struct)
    }
}
