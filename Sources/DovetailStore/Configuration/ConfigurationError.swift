/// A configuration problem that stops Dovetail before it touches a database.
///
/// A struct over a kind (as Hummingbird's `PersistError`) rather than a public enum, so that new
/// problems can be added without breaking callers, and so that every message is built here, in one
/// place that can be checked for the two promises users rely on: it fits on one line and it never
/// carries a password (URLs are masked by the caller before they reach these constructors).
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Internal so tests can tell problems apart without matching on wording.
    enum Kind: Sendable, Equatable {
        case emptyURL
        case missingScheme
        case unsupportedScheme
        case malformedURL
        case invalidPercentEscape
        case invalidPort
        case missingDatabasePath
        case invalidQueryParameter
        case invalidSSLMode
        case environmentFile
        case invalidValue
        case backendMismatch
    }

    let kind: Kind

    /// What went wrong and what to do about it, on one line.
    public let message: String

    public var description: String { message }

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = Self.singleLine(message)
    }

    /// The same problem told from a caller's point of view, e.g. naming the variable the URL came from.
    func prefixed(_ context: String) -> ConfigurationError {
        ConfigurationError(kind, "\(context): \(message)")
    }

    /// Terminals and log lines break on control characters a pasted value may carry; showing them
    /// escaped keeps the promise of one line per problem.
    static func singleLine(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}

// MARK: - Database URLs
//
// `url` is always the masked form (`DatabaseURL.masked(_:)`), and `label` names where it came from
// ("database URL", "DATABASE_URL", "--from"), so the user can find the value to fix.

extension ConfigurationError {
    static let urlExamples =
        "sqlite:///./data/dovetail.db, sqlite:////absolute/path.db, sqlite:///:memory: or postgresql://user:password@host:5432/database"

    static func emptyURL(label: String) -> ConfigurationError {
        ConfigurationError(.emptyURL, "the \(label) is empty; set it to a URL such as \(urlExamples)")
    }

    /// The text is not echoed: without a scheme there is no telling which part, if any, is a password
    /// (a bare password pasted into the wrong variable looks exactly like this).
    static func missingScheme(label: String) -> ConfigurationError {
        ConfigurationError(.missingScheme, "invalid \(label): it does not start with a scheme such as sqlite:// or postgresql://; use \(urlExamples)")
    }

    static func unsupportedScheme(_ scheme: String, label: String, url: String) -> ConfigurationError {
        ConfigurationError(
            .unsupportedScheme,
            "invalid \(label) '\(url)': the scheme '\(scheme)' is not supported; use sqlite://, postgres:// or postgresql:// "
                + "(a driver suffix such as postgresql+psycopg2:// is accepted and ignored)"
        )
    }

    static func malformedURL(label: String, url: String, problem: String, fix: String) -> ConfigurationError {
        ConfigurationError(.malformedURL, "invalid \(label) '\(url)': \(problem); \(fix)")
    }

    /// `component` is a name ("password"), never the component's text.
    static func invalidPercentEscape(in component: String, label: String, url: String, invalidUTF8: Bool = false) -> ConfigurationError {
        let problem =
            invalidUTF8
            ? "the percent-escapes in the \(component) do not spell valid UTF-8"
            : "the \(component) has an invalid percent-escape ('%' must be followed by two hex digits)"
        return ConfigurationError(
            .invalidPercentEscape,
            "invalid \(label) '\(url)': \(problem); write a literal '%' as %25 and encode other bytes as UTF-8, e.g. 'é' → %C3%A9"
        )
    }

    /// The port is echoed only when it is made of digits: anything else may be a password whose
    /// `@host` part was forgotten (`postgresql://user:secret`).
    static func invalidPort(_ port: Substring, label: String, url: String) -> ConfigurationError {
        let problem: String
        if port.isEmpty {
            problem = "the port after ':' is empty"
        } else if port.allSatisfy({ $0.isASCII && $0.isNumber }) {
            problem = "the port \(port) is out of range"
        } else {
            problem = "the port is not a number"
        }
        return ConfigurationError(.invalidPort, "invalid \(label) '\(url)': \(problem); use a port between 1 and 65535, or leave it out for 5432")
    }

    static func missingDatabasePath(label: String, url: String) -> ConfigurationError {
        ConfigurationError(
            .missingDatabasePath,
            "invalid \(label) '\(url)': it names no database file; use sqlite:///relative/path.db (three slashes), "
                + "sqlite:////absolute/path.db (four) or sqlite:///:memory:"
        )
    }

    static func unknownQueryParameter(_ name: String, label: String, url: String, supported: String) -> ConfigurationError {
        ConfigurationError(.invalidQueryParameter, "invalid \(label) '\(url)': unknown query parameter '\(name)'; \(supported)")
    }

    static func invalidQueryParameter(label: String, url: String, problem: String) -> ConfigurationError {
        ConfigurationError(.invalidQueryParameter, "invalid \(label) '\(url)': \(problem)")
    }

    static func invalidSSLMode(_ value: String, label: String, url: String) -> ConfigurationError {
        let modes = PostgresSSLMode.allCases.map(\.rawValue).joined(separator: ", ")
        return ConfigurationError(.invalidSSLMode, "invalid \(label) '\(url)': sslmode '\(value)' is not one of \(modes)")
    }
}

// MARK: - Environment

extension ConfigurationError {
    /// Names the file and line but never the line's text: a malformed line is often a secret
    /// pasted without its `KEY=`.
    static func environmentFile(path: String, line: Int? = nil, problem: String) -> ConfigurationError {
        let place = line.map { "\(path):\($0)" } ?? path
        return ConfigurationError(.environmentFile, "environment file \(place): \(problem)")
    }

    /// For settings whose values are not secret (numbers, flags, modes), so echoing them helps.
    static func invalidValue(variable: String, value: String, expected: String) -> ConfigurationError {
        ConfigurationError(.invalidValue, "\(variable)='\(value)' is not valid: expected \(expected)")
    }

    static func backendMismatch(_ message: String) -> ConfigurationError {
        ConfigurationError(.backendMismatch, message)
    }
}
