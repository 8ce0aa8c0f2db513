import Foundation

/// Which of the two stores a URL points at; the rest of the code switches on this rather than on schemes.
public enum DatabaseBackend: String, Sendable, Equatable {
    case sqlite
    case postgres
}

/// Where a SQLite database lives.
public enum SQLiteLocation: Sendable, Equatable {
    /// A private database per connection, gone when the connection closes: for tests and throwaway runs.
    case memory
    /// The path exactly as written in the URL: relative paths stay relative to the working directory
    /// (`./data/dovetail.db` from `sqlite:///./data/dovetail.db`), so that the same `.env` works from
    /// any checkout; absolute paths keep their leading `/` (`/srv/dovetail.db` from `sqlite:////srv/dovetail.db`).
    case file(path: String)
}

/// libpq's `sslmode` values, spelled as libpq spells them so existing URLs keep working.
public enum PostgresSSLMode: String, Sendable, CaseIterable {
    case disable
    case allow
    case prefer
    case require
    case verifyCA = "verify-ca"
    case verifyFull = "verify-full"
}

/// Everything needed to reach one PostgreSQL database, decoded from a URL.
///
/// Fields hold decoded text (a password is `p@ss`, never `p%40ss`), so the connection code never has
/// to know about URL escaping; `urlString` encodes again when a URL has to be written out.
public struct PostgresConnectionInfo: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// Set from `?host=/socket/dir` (libpq style): connecting through the socket skips TCP and TLS
    /// altogether, which is how a local or managed PostgreSQL is usually reached.
    public var unixSocketDirectory: String?
    public var username: String
    public var password: String?
    public var database: String
    public var sslMode: PostgresSSLMode
    public var applicationName: String

    public static let defaultPort = 5432
    public static let defaultApplicationName = "dovetail"

    /// `database` defaults to the user name, as libpq does. `sslMode` defaults to `.disable` for a
    /// socket or a loopback host — nothing crosses a network there and a local server rarely has a
    /// certificate, so TLS would only cost a failed handshake — and to `.prefer` (libpq's default)
    /// for any other host, so a server that offers TLS gets it without the URL having to ask.
    public init(
        host: String = "localhost",
        port: Int = PostgresConnectionInfo.defaultPort,
        unixSocketDirectory: String? = nil,
        username: String = "postgres",
        password: String? = nil,
        database: String? = nil,
        sslMode: PostgresSSLMode? = nil,
        applicationName: String = PostgresConnectionInfo.defaultApplicationName
    ) {
        self.host = host.isEmpty ? "localhost" : host
        self.port = port
        self.unixSocketDirectory = unixSocketDirectory
        self.username = username
        self.password = password
        if let database, !database.isEmpty {
            self.database = database
        } else {
            self.database = username
        }
        self.sslMode = sslMode ?? Self.defaultSSLMode(host: self.host, unixSocketDirectory: unixSocketDirectory)
        self.applicationName = applicationName
    }

    static func defaultSSLMode(host: String, unixSocketDirectory: String?) -> PostgresSSLMode {
        unixSocketDirectory != nil || isLoopback(host) ? .disable : .prefer
    }

    static func isLoopback(_ host: String) -> Bool { LoopbackHost.contains(host) }

    /// The socket file libpq would use, so callers need not know PostgreSQL's naming scheme.
    public var unixSocketPath: String? {
        guard var directory = unixSocketDirectory else { return nil }
        while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
        return directory == "/" ? "/.s.PGSQL.\(port)" : "\(directory)/.s.PGSQL.\(port)"
    }

    /// A URL that parses back to exactly this value: every user name, password and database character
    /// outside the unreserved set is percent-encoded, so quotes, spaces, `@`, `%`, `/` and any Unicode
    /// survive a trip through `.env` files and other tools. Contains the password: never log it.
    public var urlString: String {
        makeURLString(encodedPassword: password.map { Self.percentEncode($0) })
    }

    /// `urlString` with the password shown as `***`: safe for logs, errors and `status` output.
    public var redactedURLString: String {
        makeURLString(encodedPassword: password == nil ? nil : "***")
    }

    private func makeURLString(encodedPassword: String?) -> String {
        var text = "postgresql://" + Self.percentEncode(username)
        if let encodedPassword { text += ":" + encodedPassword }
        text += "@"
        // Hosts with ':' are IPv6 literals and need brackets, or their colons would read as a port.
        text += host.contains(":") ? "[\(Self.percentEncode(host, keeping: ":"))]" : Self.percentEncode(host)
        text += ":\(port)/" + Self.percentEncode(database)
        text += "?sslmode=" + sslMode.rawValue
        if applicationName != Self.defaultApplicationName {
            text += "&application_name=" + Self.percentEncode(applicationName)
        }
        if let unixSocketDirectory {
            text += "&host=" + Self.percentEncode(unixSocketDirectory, keeping: "/")
        }
        return text
    }

    /// Encodes everything but RFC 3986's unreserved characters (plus `keeping`): stricter than needed,
    /// but then no character can ever be read as a delimiter by any URL parser.
    static func percentEncode(_ text: String, keeping: String = "") -> String {
        let kept = Set(keeping.utf8)
        var result = ""
        for byte in text.utf8 {
            if DatabaseURL.isUnreserved(byte) || kept.contains(byte) {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                result += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return result
    }
}

/// The database Dovetail talks to, as named by `DATABASE_URL`.
///
/// Parsed by hand rather than with Foundation's `URL`: `URLComponents` guesses when a password holds
/// an unencoded `@`, `/` or `#`, and an error it reports would echo the password. This parser refuses
/// ambiguous input with a message that says how to encode it, and masks the password in every message.
public enum DatabaseURL: Sendable, Equatable {
    case sqlite(SQLiteLocation)
    case postgres(PostgresConnectionInfo)

    /// Zero configuration: a SQLite file under the working directory.
    public static let defaultURLString = "sqlite:///./data/dovetail.db"
    public static let defaultURL = DatabaseURL.sqlite(.file(path: "./data/dovetail.db"))

    public init(parsing string: String) throws(ConfigurationError) {
        self = try Self.parse(string, label: "database URL")
    }

    /// `label` names where the text came from (`--from`, `--to`), so an error points at the value to fix.
    public init(parsing string: String, label: String) throws(ConfigurationError) {
        self = try Self.parse(string, label: label)
    }

    public var backend: DatabaseBackend {
        switch self {
        case .sqlite: .sqlite
        case .postgres: .postgres
        }
    }

    /// Safe to print or log: never contains the password.
    public var redacted: String {
        switch self {
        case .sqlite(.memory): "sqlite:///:memory:"
        case .sqlite(.file(let path)): "sqlite:///" + path
        case .postgres(let info): info.redactedURLString
        }
    }
}

// Interpolating a URL or connection info into a log line, or `dump`ing it in a test failure, must not
// leak the password: every textual form goes through the redacted string.

extension DatabaseURL: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { redacted }
    public var debugDescription: String { "DatabaseURL(\(redacted))" }
}

extension PostgresConnectionInfo: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { redactedURLString }
    public var debugDescription: String { "PostgresConnectionInfo(\(redactedURLString))" }
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "unixSocketDirectory": unixSocketDirectory as Any, "username": username,
                "password": password == nil ? "nil" : "***", "database": database, "sslMode": sslMode, "applicationName": applicationName,
            ],
            displayStyle: .struct
        )
    }
}

// MARK: - Parsing

extension DatabaseURL {
    /// `label` names where the text came from (`DATABASE_URL`, `--from`) so the message points at the value to fix.
    static func parse(_ string: String, label: String) throws(ConfigurationError) -> DatabaseURL {
        let input = string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !input.isEmpty else { throw .emptyURL(label: label) }
        let masked = Self.masked(input)
        guard let separator = input.range(of: "://") else { throw .missingScheme(label: label) }
        let scheme = input[..<separator.lowerBound].lowercased()
        // A "scheme" with other characters is really a URL that lost its scheme (`user:pw@host/db?x=a://b`).
        guard !scheme.isEmpty, scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else {
            throw .missingScheme(label: label)
        }
        let rest = input[separator.upperBound...]
        switch Self.baseScheme(scheme) {
        case "sqlite":
            return .sqlite(try parseSQLite(rest, label: label, url: masked))
        case "postgres", "postgresql":
            return .postgres(try parsePostgres(rest, label: label, url: masked))
        default:
            throw .unsupportedScheme(scheme, label: label, url: masked)
        }
    }

    /// SQLAlchemy-style `postgresql+psycopg2` names a Python driver; the database is the same, so the suffix is dropped.
    private static func baseScheme(_ scheme: String) -> String {
        guard let plus = scheme.firstIndex(of: "+") else { return scheme }
        let driver = scheme[scheme.index(after: plus)...]
        guard !driver.isEmpty, !driver.contains("+") else { return scheme }
        return String(scheme[..<plus])
    }

    private static func parseSQLite(_ rest: Substring, label: String, url: String) throws(ConfigurationError) -> SQLiteLocation {
        if let index = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            if rest[index] == "#" {
                throw .malformedURL(
                    label: label,
                    url: url,
                    problem: "a SQLite URL cannot contain '#'",
                    fix: "rename the file or move it to a path without '#'"
                )
            }
            let query = rest[rest.index(after: index)...]
            let name = query.prefix { $0 != "=" && $0 != "&" }
            throw .unknownQueryParameter(String(name), label: label, url: url, supported: "SQLite URLs take no query parameters")
        }
        guard !rest.isEmpty else { throw .missingDatabasePath(label: label, url: url) }
        guard rest.first == "/" else {
            throw .malformedURL(
                label: label,
                url: url,
                problem: "a SQLite URL has no host part",
                fix: "use sqlite:///relative/path.db (three slashes) or sqlite:////absolute/path.db (four)"
            )
        }
        let path = rest.dropFirst()
        if path == ":memory:" { return .memory }
        guard !path.isEmpty, !path.hasSuffix("/") else { throw .missingDatabasePath(label: label, url: url) }
        return .file(path: String(path))
    }

    private static func parsePostgres(_ rest: Substring, label: String, url: String) throws(ConfigurationError) -> PostgresConnectionInfo {
        let encodeAdvice =
            "percent-encode special characters in the user name and password, "
            + "e.g. '@' → %40, '/' → %2F, '?' → %3F, '#' → %23, ' ' → %20, '%' → %25"

        // RFC 3986: the authority ends at the first '/', '?' or '#'. An '@' after that point means a
        // user name or password held one of those characters unencoded, and any split would be a guess.
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        if tail.contains("@") {
            throw .malformedURL(
                label: label,
                url: url,
                problem: "an '@' appears after the host, so the URL cannot be split unambiguously",
                fix: encodeAdvice
            )
        }
        let atSigns = authority.filter { $0 == "@" }.count
        if atSigns > 1 {
            throw .malformedURL(label: label, url: url, problem: "the part before the host contains more than one '@'", fix: encodeAdvice)
        }
        if tail.contains("#") {
            throw .malformedURL(
                label: label,
                url: url,
                problem: "URL fragments ('#…') are not supported",
                fix: "remove the fragment or percent-encode '#' as %23"
            )
        }

        // User name and password.
        var username: String?
        var password: String?
        var hostPort = authority
        if let at = authority.firstIndex(of: "@") {
            let userinfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            let rawUser: Substring
            var rawPassword: Substring?
            if let colon = userinfo.firstIndex(of: ":") {
                rawUser = userinfo[..<colon]
                rawPassword = userinfo[userinfo.index(after: colon)...]
            } else {
                rawUser = userinfo
            }
            guard rawUser.allSatisfy({ isAllowedRaw($0) }) else {
                throw .malformedURL(
                    label: label,
                    url: url,
                    problem: "the user name contains a character that must be percent-encoded",
                    fix: encodeAdvice
                )
            }
            username = try decode(rawUser, component: "user name", label: label, url: url)
            if let rawPassword {
                guard rawPassword.allSatisfy({ isAllowedRaw($0, extra: ":") }) else {
                    throw .malformedURL(
                        label: label,
                        url: url,
                        problem: "the password contains a character that must be percent-encoded",
                        fix: encodeAdvice
                    )
                }
                password = try decode(rawPassword, component: "password", label: label, url: url)
            }
        }

        // Host and port.
        var rawHost: Substring
        var rawPort: Substring?
        if hostPort.first == "[" {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw .malformedURL(label: label, url: url, problem: "the IPv6 address has no closing ']'", fix: "write it as [::1] or [::1]:5432")
            }
            rawHost = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let afterBracket = hostPort[hostPort.index(after: close)...]
            if afterBracket.first == ":" {
                rawPort = afterBracket.dropFirst()
            } else if !afterBracket.isEmpty {
                throw .malformedURL(label: label, url: url, problem: "unexpected text after the IPv6 address", fix: "write it as [::1] or [::1]:5432")
            }
            // Letters beyond hex digits are allowed for zone ids (`fe80::1%25eth0`); PostgreSQL rejects a bad address clearly enough.
            guard rawHost.contains(":"), rawHost.allSatisfy({ ($0.asciiValue.map(isUnreserved) ?? false) || $0 == ":" || $0 == "%" }) else {
                throw .malformedURL(
                    label: label,
                    url: url,
                    problem: "the text inside '[…]' is not an IPv6 address",
                    fix: "write it as [::1] or [::1]:5432"
                )
            }
        } else {
            let colons = hostPort.filter { $0 == ":" }.count
            if colons > 1 {
                throw .malformedURL(
                    label: label,
                    url: url,
                    problem: "the host contains more than one ':'",
                    fix: "put an IPv6 address in brackets, e.g. [::1]:5432, and percent-encode ':' in the user name"
                )
            }
            if let colon = hostPort.firstIndex(of: ":") {
                rawHost = hostPort[..<colon]
                rawPort = hostPort[hostPort.index(after: colon)...]
            } else {
                rawHost = hostPort
            }
            guard rawHost.allSatisfy({ isAllowedRaw($0) }) else {
                throw .malformedURL(label: label, url: url, problem: "the host contains a character that must be percent-encoded", fix: encodeAdvice)
            }
        }
        var host = try decode(rawHost, component: "host", label: label, url: url)
        var socketDirectory: String?
        // libpq reads a host that decodes to an absolute path (`postgresql://%2Fvar%2Frun%2Fpostgresql/db`) as a socket directory.
        if host.hasPrefix("/") {
            socketDirectory = host
            host = ""
        }
        var port = PostgresConnectionInfo.defaultPort
        if let rawPort {
            guard !rawPort.isEmpty, rawPort.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(rawPort), (1...65535).contains(value) else {
                throw .invalidPort(rawPort, label: label, url: url)
            }
            port = value
        }

        // Database and query.
        var pathAndQuery = tail
        var query: Substring = ""
        if let questionMark = tail.firstIndex(of: "?") {
            pathAndQuery = tail[..<questionMark]
            query = tail[tail.index(after: questionMark)...]
        }
        var database: String?
        if pathAndQuery.first == "/" {
            let rawDatabase = pathAndQuery.dropFirst()
            if rawDatabase.contains("/") {
                throw .malformedURL(
                    label: label,
                    url: url,
                    problem: "the database name contains '/'",
                    fix: "percent-encode a '/' that belongs to the name as %2F"
                )
            }
            guard rawDatabase.allSatisfy({ isAllowedRaw($0, extra: ":@") }) else {
                throw .malformedURL(
                    label: label,
                    url: url,
                    problem: "the database name contains a character that must be percent-encoded",
                    fix: "percent-encode it, e.g. ' ' → %20"
                )
            }
            database = try decode(rawDatabase, component: "database name", label: label, url: url)
        }

        var sslMode: PostgresSSLMode?
        var applicationName = PostgresConnectionInfo.defaultApplicationName
        var seen: Set<String> = []
        let supported = "supported parameters are sslmode, application_name and host (a Unix socket directory)"
        for parameter in query.split(separator: "&", omittingEmptySubsequences: true) {
            let rawName = parameter.prefix { $0 != "=" }
            let name = try decode(rawName, component: "query parameter name", label: label, url: url)
            guard ["sslmode", "application_name", "host"].contains(name) else {
                throw .unknownQueryParameter(name, label: label, url: url, supported: supported)
            }
            guard rawName.endIndex < parameter.endIndex else {
                throw .invalidQueryParameter(label: label, url: url, problem: "the query parameter '\(name)' has no value; write \(name)=value")
            }
            guard seen.insert(name).inserted else {
                throw .invalidQueryParameter(label: label, url: url, problem: "the query parameter '\(name)' is given more than once; keep one")
            }
            let value = try decode(parameter[parameter.index(after: rawName.endIndex)...], component: "\(name) value", label: label, url: url)
            guard !value.isEmpty else {
                throw .invalidQueryParameter(label: label, url: url, problem: "the query parameter '\(name)' is empty; give it a value or remove it")
            }
            switch name {
            case "sslmode":
                guard let mode = PostgresSSLMode(rawValue: value.lowercased()) else { throw .invalidSSLMode(value, label: label, url: url) }
                sslMode = mode
            case "application_name":
                applicationName = value
            default:
                // libpq: `host` overrides the URL's host; a value starting with '/' is a socket directory.
                if value.hasPrefix("/") {
                    socketDirectory = value
                } else {
                    host = value
                    socketDirectory = nil
                }
            }
        }

        let user = (username ?? "").isEmpty ? "postgres" : username!
        return PostgresConnectionInfo(
            host: host,
            port: port,
            unixSocketDirectory: socketDirectory,
            username: user,
            password: (password ?? "").isEmpty ? nil : password,
            database: database,
            sslMode: sslMode,
            applicationName: applicationName
        )
    }

    // MARK: Characters and escapes

    static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
        default: false
        }
    }

    /// RFC 3986 allows unreserved characters, sub-delimiters and escapes unencoded. Raw non-ASCII is
    /// accepted too: it is not a delimiter anywhere, so it cannot make the URL ambiguous.
    private static func isAllowedRaw(_ character: Character, extra: String = "") -> Bool {
        guard character.isASCII else { return !character.unicodeScalars.contains { $0.properties.generalCategory == .control } }
        if let byte = character.asciiValue, isUnreserved(byte) { return true }
        return "!$&'()*+,;=%".contains(character) || extra.contains(character)
    }

    private enum DecodingFailure: Error {
        case badEscape
        case badUTF8
    }

    private static func decode(_ text: Substring, component: String, label: String, url: String) throws(ConfigurationError) -> String {
        do {
            return try percentDecode(text)
        } catch {
            throw .invalidPercentEscape(in: component, label: label, url: url, invalidUTF8: error == .badUTF8)
        }
    }

    private static func percentDecode(_ text: Substring) throws(DecodingFailure) -> String {
        guard text.contains("%") else { return String(text) }
        let bytes = Array(text.utf8)
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else {
                    throw .badEscape
                }
                decoded.append(high << 4 | low)
                index += 3
            } else {
                decoded.append(byte)
                index += 1
            }
        }
        guard let string = String(validating: decoded, as: UTF8.self) else { throw .badUTF8 }
        return string
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: Masking

    /// The input with anything that may be a password replaced by `***`, for echoing in errors.
    ///
    /// It must work on URLs that failed to parse, so it relies on nothing but delimiters and errs
    /// towards hiding too much: everything between the first ':' after "://" and the last '@' (an
    /// unencoded '@', '/' or '?' inside the password cannot hide any of it); without an '@', a
    /// non-numeric "port" (`postgresql://user:secret`); and the value of every query parameter
    /// that is not known to be harmless (`?password=…`).
    static func masked(_ input: String) -> String {
        let start = input.range(of: "://")?.upperBound ?? input.startIndex
        var result = String(input[..<start])
        var rest = input[start...]
        if let lastAt = rest.lastIndex(of: "@") {
            let userinfo = rest[..<lastAt]
            if let colon = userinfo.firstIndex(of: ":") {
                result += rest[...colon] + "***"
            } else {
                result += userinfo
            }
            rest = rest[lastAt...]
        } else if start != input.startIndex {
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if authority.first != "[", let colon = authority.lastIndex(of: ":"),
                !authority[authority.index(after: colon)...].allSatisfy({ $0.isASCII && $0.isNumber })
            {
                result += authority[...colon] + "***"
                rest = rest[authorityEnd...]
            }
        }
        guard let questionMark = rest.firstIndex(of: "?") else { return result + rest }
        result += rest[...questionMark]
        let harmless: Set<String> = ["sslmode", "application_name", "host"]
        let parameters = rest[rest.index(after: questionMark)...].split(separator: "&", omittingEmptySubsequences: false)
        result += parameters.map { parameter -> String in
            guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
            return harmless.contains(parameter[..<equals].lowercased()) ? String(parameter) : parameter[...equals] + "***"
        }.joined(separator: "&")
        return result
    }
}
