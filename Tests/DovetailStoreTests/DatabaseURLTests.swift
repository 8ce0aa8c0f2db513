import Foundation
import Testing

@testable import DovetailStore

@Suite("DatabaseURL parsing")
struct DatabaseURLTests {
    static func postgres(
        host: String = "localhost",
        port: Int = 5432,
        socket: String? = nil,
        user: String = "postgres",
        password: String? = nil,
        database: String? = nil,
        sslMode: PostgresSSLMode? = nil,
        applicationName: String = "dovetail"
    ) -> DatabaseURL {
        .postgres(
            PostgresConnectionInfo(
                host: host,
                port: port,
                unixSocketDirectory: socket,
                username: user,
                password: password,
                database: database,
                sslMode: sslMode,
                applicationName: applicationName
            )
        )
    }

    static let goodForms: [(String, DatabaseURL)] = [
        ("sqlite:///./data/dovetail.db", .sqlite(.file(path: "./data/dovetail.db"))),
        ("sqlite:///data.db", .sqlite(.file(path: "data.db"))),
        ("sqlite:////abs/path.db", .sqlite(.file(path: "/abs/path.db"))),
        ("sqlite:////var/lib/dovetail/state.sqlite3", .sqlite(.file(path: "/var/lib/dovetail/state.sqlite3"))),
        ("sqlite:///:memory:", .sqlite(.memory)),
        ("SQLite:///Data.db", .sqlite(.file(path: "Data.db"))),
        ("sqlite+aiosqlite:///./data/dovetail.db", .sqlite(.file(path: "./data/dovetail.db"))),
        ("  sqlite:///trimmed.db\n", .sqlite(.file(path: "trimmed.db"))),
        (
            "postgresql://user:p%40ss@127.0.0.1:5432/db",
            postgres(host: "127.0.0.1", user: "user", password: "p@ss", database: "db", sslMode: .disable)
        ),
        (
            "postgres://app:pw@db.example.com/agents",
            postgres(host: "db.example.com", user: "app", password: "pw", database: "agents", sslMode: .prefer)
        ),
        (
            "postgresql+psycopg2://app:pw@db.example.com:6543/agents",
            postgres(host: "db.example.com", port: 6543, user: "app", password: "pw", database: "agents")
        ),
        ("postgres+asyncpg://app@db.example.com/agents", postgres(host: "db.example.com", user: "app", database: "agents")),
        ("POSTGRESQL://app@db.example.com/agents", postgres(host: "db.example.com", user: "app", database: "agents")),
        ("postgresql://u:pw@[::1]:5433/db", postgres(host: "::1", port: 5433, user: "u", password: "pw", database: "db", sslMode: .disable)),
        ("postgresql://u:pw@[2001:db8::1]/db", postgres(host: "2001:db8::1", user: "u", password: "pw", database: "db", sslMode: .prefer)),
        (
            "postgresql://user:pw@/db?host=/var/run/postgresql",
            postgres(socket: "/var/run/postgresql", user: "user", password: "pw", database: "db", sslMode: .disable)
        ),
        ("postgresql://%2Fvar%2Frun%2Fpostgresql/db", postgres(socket: "/var/run/postgresql", database: "db")),
        ("postgresql://u@h/db?host=other.example.com", postgres(host: "other.example.com", user: "u", database: "db")),
        (
            "postgresql://u:pw@h/db?sslmode=require&application_name=worker%201",
            postgres(host: "h", user: "u", password: "pw", database: "db", sslMode: .require, applicationName: "worker 1")
        ),
        ("postgresql://u@h/db?sslmode=verify-full", postgres(host: "h", user: "u", database: "db", sslMode: .verifyFull)),
        ("postgresql://u@h/db?sslmode=verify-ca&", postgres(host: "h", user: "u", database: "db", sslMode: .verifyCA)),
        ("postgresql://u@localhost/db?sslmode=allow", postgres(user: "u", database: "db", sslMode: .allow)),
        ("postgresql://db.example.com", postgres(host: "db.example.com")),
        ("postgresql://", postgres()),
        ("postgresql://alice@db.example.com", postgres(host: "db.example.com", user: "alice", database: "alice")),
        ("postgresql://alice@db.example.com/", postgres(host: "db.example.com", user: "alice", database: "alice")),
        ("postgresql://u:@h/db", postgres(host: "h", user: "u", database: "db")),
        ("postgresql://u:pa:ss@h/db", postgres(host: "h", user: "u", password: "pa:ss", database: "db")),
        ("postgresql://u:a$b&c=d!'()*+,;~@h/db", postgres(host: "h", user: "u", password: "a$b&c=d!'()*+,;~", database: "db")),
        ("postgresql://u:pw@h/my%20db", postgres(host: "h", user: "u", password: "pw", database: "my db")),
        ("postgresql://u:%F0%9F%94%90@h/db", postgres(host: "h", user: "u", password: "🔐", database: "db")),
        ("postgresql://u:pässwörd@h/db", postgres(host: "h", user: "u", password: "pässwörd", database: "db")),
        ("postgresql://us%40er%3A1:pw@h/db", postgres(host: "h", user: "us@er:1", password: "pw", database: "db")),
    ]

    @Test("accepted forms", arguments: goodForms)
    func parsesGoodForms(input: String, expected: DatabaseURL) throws {
        let parsed = try DatabaseURL(parsing: input)
        #expect(parsed == expected)
        #expect(parsed.backend == expected.backend)
    }

    @Test func defaultURLStringParsesToTheDefault() throws {
        #expect(try DatabaseURL(parsing: DatabaseURL.defaultURLString) == DatabaseURL.defaultURL)
        #expect(DatabaseURL.defaultURL.redacted == DatabaseURL.defaultURLString)
    }

    @Test(arguments: [
        ("sqlite:///./data/dovetail.db", "sqlite:///./data/dovetail.db"),
        ("sqlite:////abs/path.db", "sqlite:////abs/path.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg2://app:s3cret@db.example.com/agents", "postgresql://app:***@db.example.com:5432/agents?sslmode=prefer"),
        ("postgres://app@[::1]/agents", "postgresql://app@[::1]:5432/agents?sslmode=disable"),
        (
            "postgresql://app@/agents?host=/tmp/pg&application_name=w",
            "postgresql://app@localhost:5432/agents?sslmode=disable&application_name=w&host=/tmp/pg"
        ),
    ])
    func redactedForm(input: String, expected: String) throws {
        #expect(try DatabaseURL(parsing: input).redacted == expected)
    }

    // MARK: Round trips

    static let awkwardPasswords = [
        "it's \"quoted\"",
        "with spaces  inside ",
        "100%sure",
        "%41%zz",
        "a/b/c",
        "p@ss:w?rd#frag",
        "пароль-ünïcødé-🔐",
        "&=+;,$!*()'[]{}|\\^`<>~",
        "tab\tnew\nline",
        "ends-with-backslash\\",
    ]

    @Test("awkward passwords round-trip through urlString", arguments: awkwardPasswords)
    func passwordRoundTrip(password: String) throws {
        let info = PostgresConnectionInfo(
            host: "db.example.com",
            port: 6543,
            username: "app user@corp",
            password: password,
            database: "my/db #1",
            sslMode: .require,
            applicationName: "agent runner"
        )
        let reparsed = try DatabaseURL(parsing: info.urlString)
        #expect(reparsed == .postgres(info))
        #expect(!info.redactedURLString.contains(password))
        #expect(!info.redactedURLString.contains(PostgresConnectionInfo.percentEncode(password)))
        #expect(info.redactedURLString.contains(":***@"))
    }

    @Test(arguments: [
        PostgresConnectionInfo(host: "::1", port: 5433, username: "u", password: "x y", database: "d"),
        PostgresConnectionInfo(host: "fe80::1%eth0", username: "u", password: "p"),
        PostgresConnectionInfo(unixSocketDirectory: "/var/run/postgresql", username: "u", password: "p@/"),
        PostgresConnectionInfo(host: "db.example.com", unixSocketDirectory: "/tmp/with space", username: "u", sslMode: .disable),
        PostgresConnectionInfo(),
    ])
    func connectionInfoRoundTrip(info: PostgresConnectionInfo) throws {
        #expect(try DatabaseURL(parsing: info.urlString) == .postgres(info))
        #expect(try DatabaseURL(parsing: info.redactedURLString).redacted == info.redactedURLString)
    }

    // MARK: Defaults

    @Test(
        arguments: [
            ("localhost", nil, PostgresSSLMode.disable),
            ("127.0.0.1", nil, .disable),
            ("::1", nil, .disable),
            ("db.example.com", nil, .prefer),
            ("10.0.0.5", nil, .prefer),
            ("db.example.com", "/var/run/postgresql", .disable),
        ] as [(String, String?, PostgresSSLMode)]
    )
    func defaultSSLMode(host: String, socket: String?, expected: PostgresSSLMode) {
        #expect(PostgresConnectionInfo(host: host, unixSocketDirectory: socket).sslMode == expected)
    }

    @Test func connectionInfoDefaults() {
        let info = PostgresConnectionInfo(host: "", username: "alice")
        #expect(info.host == "localhost")
        #expect(info.port == 5432)
        #expect(info.database == "alice")
        #expect(info.password == nil)
        #expect(info.applicationName == "dovetail")
        #expect(info.unixSocketPath == nil)
    }

    @Test(arguments: [
        ("/var/run/postgresql", 5432, "/var/run/postgresql/.s.PGSQL.5432"),
        ("/tmp/", 6543, "/tmp/.s.PGSQL.6543"),
        ("/", 5432, "/.s.PGSQL.5432"),
    ])
    func socketPath(directory: String, port: Int, expected: String) {
        #expect(PostgresConnectionInfo(port: port, unixSocketDirectory: directory).unixSocketPath == expected)
    }

    // MARK: Refused forms

    struct BadForm: Sendable, CustomTestStringConvertible {
        let input: String
        let kind: ConfigurationError.Kind
        /// Every one must appear in the message (case-insensitive).
        let mentions: [String]
        /// None may appear in the message.
        let secrets: [String]

        init(_ input: String, _ kind: ConfigurationError.Kind, mentions: [String], secrets: [String] = []) {
            self.input = input
            self.kind = kind
            self.mentions = mentions
            self.secrets = secrets
        }

        var testDescription: String { input.debugDescription }
    }

    static let badForms: [BadForm] = [
        BadForm("", .emptyURL, mentions: ["empty", "sqlite:///"]),
        BadForm("   \n", .emptyURL, mentions: ["empty"]),
        BadForm(
            "mysql://root:hunter2secret@h/db",
            .unsupportedScheme,
            mentions: ["'mysql'", "postgresql://", "sqlite://"],
            secrets: ["hunter2secret"]
        ),
        BadForm("http://user:hunter2secret@h/db", .unsupportedScheme, mentions: ["'http'"], secrets: ["hunter2secret"]),
        BadForm("postgresql+://user:hunter2secret@h/db", .unsupportedScheme, mentions: ["'postgresql+'"], secrets: ["hunter2secret"]),
        BadForm("user:hunter2secret@host/db", .missingScheme, mentions: ["scheme"], secrets: ["hunter2secret"]),
        BadForm("sqlite:data.db", .missingScheme, mentions: ["scheme", "sqlite:///"]),
        BadForm("justapasteDpassword123", .missingScheme, mentions: ["scheme"], secrets: ["justapasteDpassword123"]),
        BadForm("postgresql://user:s3cr@t99@host/db", .malformedURL, mentions: ["more than one '@'", "%40"], secrets: ["s3cr@t99", "s3cr", "t99"]),
        BadForm("postgresql://user:pa/ss99word@host/db", .malformedURL, mentions: ["'@'", "%2F"], secrets: ["pa/ss99word", "ss99word"]),
        BadForm("postgresql://user:pa ss99word@host/db", .malformedURL, mentions: ["password", "percent-encode", "%20"], secrets: ["ss99word"]),
        BadForm("postgresql://user:pa?ss99word@host/db", .malformedURL, mentions: ["'@'", "%3F"], secrets: ["ss99word"]),
        BadForm("postgresql://user:pa#ss99word@host/db", .malformedURL, mentions: ["'@'", "%23"], secrets: ["ss99word"]),
        BadForm("postgresql://user:pa\"ss99word@host/db", .malformedURL, mentions: ["password", "percent-encode"], secrets: ["ss99word"]),
        BadForm("postgresql://user:pa\nss99word@host/db", .malformedURL, mentions: ["password", "percent-encode"], secrets: ["ss99word"]),
        BadForm("postgresql://user:pa@ss/99@word@host/db", .malformedURL, mentions: ["'@'", "percent-encode"], secrets: ["ss/99", "99@word"]),
        BadForm("postgresql://us er:topsecret77@host/db", .malformedURL, mentions: ["user name", "percent-encode"], secrets: ["topsecret77"]),
        BadForm(
            "postgresql://user:secret%zzword@host/db",
            .invalidPercentEscape,
            mentions: ["password", "percent-escape", "%25"],
            secrets: ["zzword"]
        ),
        BadForm("postgresql://user:abc%4@host/db", .invalidPercentEscape, mentions: ["password", "percent-escape"], secrets: ["abc%4"]),
        BadForm("postgresql://user:%C3%28word99@host/db", .invalidPercentEscape, mentions: ["password", "UTF-8"], secrets: ["word99"]),
        BadForm("postgresql://user:topsecret77@host:99999/db", .invalidPort, mentions: ["port 99999", "65535"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@host:0/db", .invalidPort, mentions: ["port 0"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@host:abc/db", .invalidPort, mentions: ["port is not a number"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@host:/db", .invalidPort, mentions: ["port", "empty"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@[::1]:x/db", .invalidPort, mentions: ["port"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77", .invalidPort, mentions: ["port is not a number"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77/db", .invalidPort, mentions: ["port is not a number"], secrets: ["topsecret77"]),
        BadForm("sqlite://", .missingDatabasePath, mentions: ["no database file", "sqlite:///"]),
        BadForm("sqlite:///", .missingDatabasePath, mentions: ["no database file"]),
        BadForm("sqlite:////", .missingDatabasePath, mentions: ["no database file"]),
        BadForm("sqlite:///data/", .missingDatabasePath, mentions: ["no database file"]),
        BadForm("sqlite://host/file.db", .malformedURL, mentions: ["no host", "three slashes"]),
        BadForm("sqlite:///x.db?mode=ro", .invalidQueryParameter, mentions: ["'mode'", "no query parameters"]),
        BadForm("sqlite:///x#y.db", .malformedURL, mentions: ["'#'"]),
        BadForm(
            "postgresql://user:topsecret77@host/db?sslmode=maybe",
            .invalidSSLMode,
            mentions: ["sslmode", "'maybe'", "verify-full"],
            secrets: ["topsecret77"]
        ),
        BadForm(
            "postgresql://user:topsecret77@host/db?connect_timeout=10",
            .invalidQueryParameter,
            mentions: ["'connect_timeout'", "sslmode"],
            secrets: ["topsecret77"]
        ),
        BadForm("postgresql://user@host/db?password=topsecret77", .invalidQueryParameter, mentions: ["'password'"], secrets: ["topsecret77"]),
        BadForm(
            "postgresql://user:topsecret77@host/db?sslmode",
            .invalidQueryParameter,
            mentions: ["sslmode", "no value"],
            secrets: ["topsecret77"]
        ),
        BadForm("postgresql://user:topsecret77@host/db?sslmode=", .invalidQueryParameter, mentions: ["sslmode", "empty"], secrets: ["topsecret77"]),
        BadForm(
            "postgresql://user:topsecret77@host/db?sslmode=require&sslmode=disable",
            .invalidQueryParameter,
            mentions: ["more than once"],
            secrets: ["topsecret77"]
        ),
        BadForm("postgresql://user:topsecret77@[::1/db", .malformedURL, mentions: ["']'"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@[zz]/db", .malformedURL, mentions: ["IPv6"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@::1/db", .malformedURL, mentions: ["brackets"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@ho st/db", .malformedURL, mentions: ["host", "percent-encode"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@host/db/extra", .malformedURL, mentions: ["database name", "'/'"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@host/my db", .malformedURL, mentions: ["database name", "percent-encode"], secrets: ["topsecret77"]),
        BadForm("postgresql://user:topsecret77@host/db#frag", .malformedURL, mentions: ["fragment"], secrets: ["topsecret77"]),
    ]

    @Test("refused forms name the problem and never the password", arguments: badForms)
    func refusesBadForms(form: BadForm) {
        let error = #expect(throws: ConfigurationError.self) { try DatabaseURL(parsing: form.input) }
        guard let error else { return }
        #expect(error.kind == form.kind, "\(error.message)")
        for mention in form.mentions {
            #expect(error.message.localizedCaseInsensitiveContains(mention), "message should mention \(mention): \(error.message)")
        }
        for secret in form.secrets {
            #expect(!error.message.contains(secret), "message leaks \(secret): \(error.message)")
        }
        #expect(!error.message.contains("\n"))
        #expect(error.description == error.message)
        if form.input.contains("://") && !form.input.isEmpty {
            #expect(error.message.contains("database URL"))
        }
    }

    // MARK: Masking

    @Test(arguments: [
        ("postgresql://user:p@ss@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user:pa/ss@host/db?sslmode=require", "postgresql://user:***@host/db?sslmode=require"),
        ("postgresql://user:pa?ss@host/db", "postgresql://user:***@host/db"),
        ("postgresql://user:secret", "postgresql://user:***"),
        ("postgresql://user:secret/db", "postgresql://user:***/db"),
        ("postgresql://user@host/db?password=x&sslmode=require", "postgresql://user@host/db?password=***&sslmode=require"),
        ("postgresql://host:5432/db", "postgresql://host:5432/db"),
        ("postgresql://[::1]:5432/db", "postgresql://[::1]:5432/db"),
        ("user:pw@host", "user:***@host"),
        ("sqlite:data.db", "sqlite:data.db"),
        ("sqlite:///./data/dovetail.db", "sqlite:///./data/dovetail.db"),
    ])
    func masking(input: String, expected: String) {
        #expect(DatabaseURL.masked(input) == expected)
    }

    @Test func textualFormsNeverShowThePassword() throws {
        let url = try DatabaseURL(parsing: "postgresql://app:Sup3rS3cret@db.example.com/agents")
        guard case .postgres(let info) = url else {
            Issue.record("expected a PostgreSQL URL")
            return
        }
        #expect(info.password == "Sup3rS3cret")
        #expect(info.urlString.contains("Sup3rS3cret"))
        var dumped = ""
        dump(url, to: &dumped)
        dump(info, to: &dumped)
        let renderings = [
            url.redacted, info.redactedURLString, "\(url)", "\(info)", String(describing: url), String(reflecting: url), String(reflecting: info),
            dumped,
        ]
        for rendering in renderings {
            #expect(!rendering.contains("Sup3rS3cret"), "\(rendering)")
        }
    }
}
