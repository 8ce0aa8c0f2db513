import DovetailStore

/// Masks an agent's password in text Dovetail stores or returns: launch command output, `last_error`, errors.
///
/// Why: masking only the whole `DATABASE_URL` let a launch command that prints the bare password (or the URL's
/// percent-encoded form of it, or the URL rebuilt by another tool) put it into `agents.last_error`, which any
/// read token can read. Every spelling is masked: the URL (shown redacted), the password as is, and its
/// percent-encoded forms (upper- and lower-case hex). The longest spelling goes first, so one that contains
/// another is masked whole.
struct AgentSecretMask: Sendable {
    static let placeholder = "***"

    private let replacements: [(String, String)]

    init(_ database: AgentDatabase?) {
        var replacements: [(String, String)] = []
        if let database, !database.url.isEmpty {
            replacements.append((database.url, database.redactedURL))
            if case .postgres(let info)? = try? DatabaseURL(parsing: database.url), let password = info.password, !password.isEmpty {
                let spellings = Set([password, Self.percentEncode(password), Self.percentEncode(password, uppercaseHex: false)])
                for spelling in spellings.sorted(by: { $0.count > $1.count }) { replacements.append((spelling, Self.placeholder)) }
            }
        }
        self.replacements = replacements
    }

    func apply(_ text: String) -> String {
        replacements.reduce(text) { text, pair in text.replacingOccurrences(of: pair.0, with: pair.1) }
    }

    /// What `PostgresConnectionInfo.urlString` does to a password: every byte outside RFC 3986's unreserved set as `%XX`.
    static func percentEncode(_ text: String, uppercaseHex: Bool = true) -> String {
        var result = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                result += "%" + String(byte >> 4, radix: 16, uppercase: uppercaseHex) + String(byte & 0x0F, radix: 16, uppercase: uppercaseHex)
            }
        }
        return result
    }
}
