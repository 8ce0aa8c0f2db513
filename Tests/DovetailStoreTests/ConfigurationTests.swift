import Foundation
import Testing

@testable import DovetailStore

/// A fresh directory per test, removed afterwards, so `.env` tests use real files without sharing them.
private final class DotEnvDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("dovetail-config-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    var dotEnvPath: String { path + "/.env" }

    func writeDotEnv(_ contents: String) throws {
        try Data(contents.utf8).write(to: URL(fileURLWithPath: dotEnvPath))
    }
}

@Suite("Environment files")
struct EnvironmentFileTests {
    @Test func parsesEveryAcceptedForm() throws {
        let directory = try DotEnvDirectory()
        try directory.writeDotEnv(
            #"""
            # A comment, then a blank line

            export EXPORTED=yes
            PLAIN=value
              SPACED = spaced value   # trailing comment
            HASH=abc#123
            EMPTY=
            EMPTY_QUOTED=""
            SINGLE='literal \n $HOME # not a comment'
            DOUBLE="line1\nline2 \"quoted\" back\\slash\ttab \d"
            MULTI="first
            second"
            MULTI_SINGLE='one
            two'
            QUOTED_COMMENT="value" # comment
            DUP=1
            DUP=2
            DOTTED.KEY-NAME=ok
            exported_not_keyword=1
            export=word
            DATABASE_URL="postgresql://app:p%40ss@db.example.com/agents"
            LAST=no newline at end
            """#
        )
        let values = try EnvironmentFile.load(path: directory.dotEnvPath)
        #expect(
            values == [
                "EXPORTED": "yes",
                "PLAIN": "value",
                "SPACED": "spaced value",
                "HASH": "abc#123",
                "EMPTY": "",
                "EMPTY_QUOTED": "",
                "SINGLE": #"literal \n $HOME # not a comment"#,
                "DOUBLE": "line1\nline2 \"quoted\" back\\slash\ttab \\d",
                "MULTI": "first\nsecond",
                "MULTI_SINGLE": "one\ntwo",
                "QUOTED_COMMENT": "value",
                "DUP": "2",
                "DOTTED.KEY-NAME": "ok",
                "exported_not_keyword": "1",
                "export": "word",
                "DATABASE_URL": "postgresql://app:p%40ss@db.example.com/agents",
                "LAST": "no newline at end",
            ]
        )
    }

    @Test func windowsLineEndingsAndByteOrderMark() throws {
        let directory = try DotEnvDirectory()
        try directory.writeDotEnv("\u{FEFF}A=1\r\nB=\"two\"\r\n# note\r\nC=three # c\r\n")
        #expect(try EnvironmentFile.load(path: directory.dotEnvPath) == ["A": "1", "B": "two", "C": "three"])
    }

    @Test func missingFileIsEmpty() throws {
        let directory = try DotEnvDirectory()
        #expect(try EnvironmentFile.load(path: directory.dotEnvPath) == [:])
    }

    @Test func directoryInsteadOfFileIsAnError() throws {
        let directory = try DotEnvDirectory()
        try FileManager.default.createDirectory(atPath: directory.dotEnvPath, withIntermediateDirectories: false)
        let error = #expect(throws: ConfigurationError.self) { try EnvironmentFile.load(path: directory.dotEnvPath) }
        #expect(error?.kind == .environmentFile)
        #expect(error?.message.contains(directory.dotEnvPath) == true)
    }

    @Test func invalidUTF8IsAnError() throws {
        let directory = try DotEnvDirectory()
        try Data([0x41, 0x3D, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: directory.dotEnvPath))
        let error = #expect(throws: ConfigurationError.self) { try EnvironmentFile.load(path: directory.dotEnvPath) }
        #expect(error?.message.contains("UTF-8") == true)
        #expect(error?.message.contains(directory.dotEnvPath) == true)
    }

    @Test(
        "malformed lines are reported by file and line without their text",
        arguments: [
            ("GOOD=1\nthisisasecretvalue\n", 2, "thisisasecretvalue"),
            ("GOOD=1\n=nokeysecretvalue\n", 2, "nokeysecretvalue"),
            ("1KEY=secretvalue", 1, "secretvalue"),
            ("KEY secretvalue", 1, "secretvalue"),
            ("A=\"unterminated secretvalue", 1, "secretvalue"),
            ("A='unterminated secretvalue\nB=2\n", 1, "secretvalue"),
            ("A='x' trailingsecretvalue", 1, "trailingsecretvalue"),
            ("A=1\nB=\"multi\nline\"\nbad line secretvalue\n", 4, "secretvalue"),
            ("A=1\r\nB=2\r\nsecretvalue\r\n", 3, "secretvalue"),
            ("PÄSS=secretvalue", 1, "secretvalue"),
        ] as [(String, Int, String)]
    )
    func malformedLine(contents: String, line: Int, secret: String) throws {
        let directory = try DotEnvDirectory()
        try directory.writeDotEnv(contents)
        let error = #expect(throws: ConfigurationError.self) { try EnvironmentFile.load(path: directory.dotEnvPath) }
        guard let error else { return }
        #expect(error.kind == .environmentFile)
        #expect(error.message.contains("\(directory.dotEnvPath):\(line):"), "\(error.message)")
        #expect(!error.message.contains(secret), "\(error.message)")
        #expect(!error.message.contains("\n"))
    }

    @Test(
        "quoted values read back unchanged",
        arguments: [
            "plain", "", "it's \"quoted\"", "back\\slash\\n", "$HOME # not a comment", "multi\nline\r\nvalue\ttab", "пароль 🔐", " padded ",
        ]
    )
    func quotedRoundTrip(value: String) throws {
        let parsed = try EnvironmentFile.parse("SECRET=\(EnvironmentFile.quoted(value))\nNEXT=1\n", path: ".env")
        #expect(parsed == ["SECRET": value, "NEXT": "1"])
    }
}

@Suite("Configuration loading")
struct ConfigurationTests {
    @Test func defaultsWithNothingSet() throws {
        let directory = try DotEnvDirectory()
        let configuration = try DovetailConfiguration.load(environment: [:], directory: directory.path)
        #expect(configuration.databaseURL == .sqlite(.file(path: "./data/dovetail.db")))
        #expect(configuration.pool == PoolSettings())
        #expect(configuration.pool.size == 5)
        #expect(configuration.pool.maxOverflow == 10)
        #expect(configuration.pool.maximumConnections == 15)
        #expect(configuration.pool.timeout == .seconds(30))
        #expect(configuration.pool.recycle == .seconds(3600))
        #expect(configuration.pool.prePing)
        #expect(configuration.pool.statementTimeout == .seconds(120))
        #expect(configuration.pool.idleInTransactionTimeout == .seconds(60))
        #expect(configuration.pool.preparedStatements)
        #expect(configuration.historyRetentionDays == 90)
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8080)
        #expect(configuration.environment.isEmpty)
    }

    @Test func everyVariableIsRead() throws {
        let directory = try DotEnvDirectory()
        let configuration = try DovetailConfiguration.load(
            environment: [
                "DATABASE_URL": "postgresql+psycopg2://app:p%40ss@db.example.com:6543/agents?sslmode=require",
                "DB_MODE": "postgresql",
                "POSTGRES_POOL_SIZE": "7",
                "POSTGRES_MAX_OVERFLOW": "0",
                "POSTGRES_POOL_TIMEOUT": "2.5",
                "POSTGRES_POOL_RECYCLE": "600",
                "POSTGRES_POOL_PRE_PING": "no",
                "POSTGRES_STATEMENT_TIMEOUT": "0",
                "POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT": "0.25",
                "POSTGRES_PREPARED_STATEMENTS": "off",
                "HISTORY_RETENTION_DAYS": "30",
                "HOST": " 0.0.0.0 ",
                "PORT": "9090",
            ],
            directory: directory.path
        )
        #expect(
            configuration.databaseURL
                == .postgres(
                    PostgresConnectionInfo(
                        host: "db.example.com",
                        port: 6543,
                        username: "app",
                        password: "p@ss",
                        database: "agents",
                        sslMode: .require
                    )
                )
        )
        #expect(
            configuration.pool
                == PoolSettings(
                    size: 7,
                    maxOverflow: 0,
                    timeout: .milliseconds(2500),
                    recycle: .seconds(600),
                    prePing: false,
                    statementTimeout: .zero,
                    idleInTransactionTimeout: .milliseconds(250),
                    preparedStatements: false
                )
        )
        #expect(configuration.pool.maximumConnections == 7)
        #expect(configuration.historyRetentionDays == 30)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9090)
    }

    @Test(arguments: [
        ("true", true), ("TRUE", true), ("1", true), ("yes", true), ("on", true),
        ("false", false), ("False", false), ("0", false), ("no", false), ("off", false),
    ])
    func prePingSpellings(text: String, expected: Bool) throws {
        let directory = try DotEnvDirectory()
        let configuration = try DovetailConfiguration.load(environment: ["POSTGRES_POOL_PRE_PING": text], directory: directory.path)
        #expect(configuration.pool.prePing == expected)
    }

    @Test(
        "invalid values name the variable and the value",
        arguments: [
            ("POSTGRES_POOL_SIZE", "abc"),
            ("POSTGRES_POOL_SIZE", "0"),
            ("POSTGRES_POOL_SIZE", "-1"),
            ("POSTGRES_POOL_SIZE", "2.5"),
            ("POSTGRES_MAX_OVERFLOW", "-1"),
            ("POSTGRES_MAX_OVERFLOW", "ten"),
            ("POSTGRES_POOL_TIMEOUT", "0"),
            ("POSTGRES_POOL_TIMEOUT", "30s"),
            ("POSTGRES_POOL_TIMEOUT", "-5"),
            ("POSTGRES_POOL_TIMEOUT", "inf"),
            ("POSTGRES_POOL_TIMEOUT", "1e3"),
            ("POSTGRES_POOL_TIMEOUT", "1.2.3"),
            ("POSTGRES_POOL_TIMEOUT", "0.0001"),
            ("POSTGRES_POOL_RECYCLE", "forever"),
            ("POSTGRES_POOL_RECYCLE", "99999999999"),
            ("POSTGRES_POOL_PRE_PING", "maybe"),
            ("POSTGRES_PREPARED_STATEMENTS", "sometimes"),
            ("POSTGRES_STATEMENT_TIMEOUT", "-1"),
            ("POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT", "."),
            ("HISTORY_RETENTION_DAYS", "0"),
            ("HISTORY_RETENTION_DAYS", "ninety"),
            ("PORT", "70000"),
            ("PORT", "-1"),
            ("PORT", "http"),
            ("DB_MODE", "mysql"),
        ]
    )
    func invalidValue(variable: String, value: String) throws {
        let directory = try DotEnvDirectory()
        let error = #expect(throws: ConfigurationError.self) {
            try DovetailConfiguration.load(environment: [variable: value], directory: directory.path)
        }
        guard let error else { return }
        #expect(error.kind == .invalidValue)
        #expect(error.message.contains("\(variable)='\(value)'"), "\(error.message)")
        #expect(error.message.contains("expected"))
    }

    @Test func emptyValuesMeanDefaults() throws {
        let directory = try DotEnvDirectory()
        let configuration = try DovetailConfiguration.load(
            environment: ["DATABASE_URL": "", "DB_MODE": " ", "PORT": "", "POSTGRES_POOL_SIZE": ""],
            directory: directory.path
        )
        #expect(configuration.databaseURL == .defaultURL)
        #expect(configuration.port == 8080)
        #expect(configuration.pool.size == 5)
    }

    // MARK: DB_MODE

    @Test func dbModePostgresWithSQLiteURLIsRefused() throws {
        let directory = try DotEnvDirectory()
        let error = #expect(throws: ConfigurationError.self) {
            try DovetailConfiguration.load(
                environment: ["DB_MODE": "postgres", "DATABASE_URL": "sqlite:///./data/dovetail.db"],
                directory: directory.path
            )
        }
        #expect(error?.kind == .backendMismatch)
        #expect(
            error?.message
                == "DB_MODE=postgres but DATABASE_URL is a SQLite URL (sqlite:///./data/dovetail.db); "
                + "set DATABASE_URL to a postgresql:// URL or unset DB_MODE"
        )
    }

    @Test func dbModePostgresWithoutDatabaseURLIsRefused() throws {
        let directory = try DotEnvDirectory()
        let error = #expect(throws: ConfigurationError.self) {
            try DovetailConfiguration.load(environment: ["DB_MODE": "postgres"], directory: directory.path)
        }
        guard let error else { return }
        #expect(error.kind == .backendMismatch)
        for mention in ["DB_MODE=postgres", "DATABASE_URL is unset", "sqlite:///./data/dovetail.db", "postgresql://", "unset DB_MODE"] {
            #expect(error.message.contains(mention), "\(error.message)")
        }
    }

    @Test func dbModeSQLiteWithPostgresURLIsRefusedWithoutThePassword() throws {
        let directory = try DotEnvDirectory()
        let error = #expect(throws: ConfigurationError.self) {
            try DovetailConfiguration.load(
                environment: ["DB_MODE": "sqlite", "DATABASE_URL": "postgresql://app:Sup3rS3cret@db.example.com/agents"],
                directory: directory.path
            )
        }
        guard let error else { return }
        #expect(error.kind == .backendMismatch)
        #expect(error.message.contains("DB_MODE=sqlite but DATABASE_URL is a PostgreSQL URL (postgresql://app:***@db.example.com:5432/agents"))
        #expect(error.message.contains("sqlite:///"))
        #expect(!error.message.contains("Sup3rS3cret"))
    }

    @Test(arguments: [
        ("sqlite", "sqlite:///:memory:"),
        ("SQLite", "sqlite:////tmp/x.db"),
        ("postgres", "postgres://db.example.com/agents"),
        ("postgresql", "postgresql://db.example.com/agents"),
        ("Postgres", "postgresql+asyncpg://db.example.com/agents"),
    ])
    func dbModeThatAgrees(mode: String, url: String) throws {
        let directory = try DotEnvDirectory()
        let configuration = try DovetailConfiguration.load(environment: ["DB_MODE": mode, "DATABASE_URL": url], directory: directory.path)
        let expected = try DatabaseURL(parsing: url)
        #expect(configuration.databaseURL == expected)
    }

    @Test func badDatabaseURLNamesTheVariableAndHidesThePassword() throws {
        let directory = try DotEnvDirectory()
        let error = #expect(throws: ConfigurationError.self) {
            try DovetailConfiguration.load(
                environment: ["DATABASE_URL": "postgresql://app:Sup3r@S3cret@db.example.com/agents"],
                directory: directory.path
            )
        }
        guard let error else { return }
        #expect(error.kind == .malformedURL)
        #expect(error.message.hasPrefix("invalid DATABASE_URL 'postgresql://app:***@db.example.com/agents'"), "\(error.message)")
        #expect(!error.message.contains("Sup3r"))
        #expect(!error.message.contains("S3cret"))
    }

    // MARK: Sources and precedence

    @Test func precedenceIsOverridesThenEnvironmentThenDotEnvThenDefaults() throws {
        let directory = try DotEnvDirectory()
        try directory.writeDotEnv(
            """
            PORT=1111
            HOST=dotenv.example
            HISTORY_RETENTION_DAYS=11
            POSTGRES_POOL_SIZE=3
            ONLY_IN_DOTENV=from-file
            """
        )
        let configuration = try DovetailConfiguration.load(
            environment: ["PORT": "2222", "HOST": "env.example", "HISTORY_RETENTION_DAYS": "22", "ONLY_IN_ENV": "from-env"],
            directory: directory.path,
            overrides: ["PORT": "3333"]
        )
        #expect(configuration.port == 3333)  // override beats environment and .env
        #expect(configuration.host == "env.example")  // environment beats .env
        #expect(configuration.historyRetentionDays == 22)
        #expect(configuration.pool.size == 3)  // .env beats the default
        #expect(configuration.pool.maxOverflow == 10)  // nothing set: default
        #expect(configuration.environment["PORT"] == "3333")
        #expect(configuration.environment["HOST"] == "env.example")
        #expect(configuration.environment["ONLY_IN_DOTENV"] == "from-file")
        #expect(configuration.environment["ONLY_IN_ENV"] == "from-env")
    }

    @Test func databaseURLFromDotEnvWithQuotedAwkwardPassword() throws {
        let directory = try DotEnvDirectory()
        let info = PostgresConnectionInfo(host: "db.example.com", username: "app", password: #"it's "@/%# $HOME"#, database: "agents")
        try directory.writeDotEnv("# written by a tool\nDATABASE_URL=\(EnvironmentFile.quoted(info.urlString))\nDB_MODE=postgres\n")
        let configuration = try DovetailConfiguration.load(environment: [:], directory: directory.path + "/")
        #expect(configuration.databaseURL == .postgres(info))
    }

    @Test func processEnvironmentDatabaseURLBeatsDotEnv() throws {
        let directory = try DotEnvDirectory()
        try directory.writeDotEnv("DATABASE_URL=postgresql://file.example/agents\n")
        let fromFile = try DovetailConfiguration.load(environment: [:], directory: directory.path)
        #expect(fromFile.databaseURL.backend == .postgres)
        let fromEnvironment = try DovetailConfiguration.load(environment: ["DATABASE_URL": "sqlite:///:memory:"], directory: directory.path)
        #expect(fromEnvironment.databaseURL == .sqlite(.memory))
        let fromOverride = try DovetailConfiguration.load(
            environment: ["DATABASE_URL": "sqlite:///:memory:"],
            directory: directory.path,
            overrides: ["DATABASE_URL": "sqlite:///override.db"]
        )
        #expect(fromOverride.databaseURL == .sqlite(.file(path: "override.db")))
    }

    @Test func malformedDotEnvStopsLoading() throws {
        let directory = try DotEnvDirectory()
        try directory.writeDotEnv("PORT=1\nnot an assignment secretvalue\n")
        let error = #expect(throws: ConfigurationError.self) {
            try DovetailConfiguration.load(environment: [:], directory: directory.path)
        }
        #expect(error?.message.contains("\(directory.dotEnvPath):2:") == true)
        #expect(error?.message.contains("secretvalue") == false)
    }
}
