import Foundation

/// How the PostgreSQL connection pool is sized and guarded. Ignored by SQLite, which has one writer.
///
/// The names mirror SQLAlchemy's pool options (`POSTGRES_POOL_SIZE`, `POSTGRES_MAX_OVERFLOW`, …) so that
/// deployments moving from the Python platform keep their tuning.
public struct PoolSettings: Sendable, Equatable {
    /// Connections kept open while idle.
    public var size: Int
    /// Extra connections opened under load and closed again afterwards.
    public var maxOverflow: Int
    /// How long a request waits for a free connection before failing with 503 instead of hanging.
    public var timeout: Duration
    /// Age after which a connection is replaced, so server-side memory growth and failovers are picked up.
    public var recycle: Duration
    /// Check a connection is alive before use, so a restarted server costs no failed request.
    public var prePing: Bool
    /// Server-side cap on one statement; a runaway query cannot hold a connection forever. Zero disables it.
    public var statementTimeout: Duration
    /// Server-side cap on an idle open transaction, whose locks would otherwise block everyone. Zero disables it.
    public var idleInTransactionTimeout: Duration
    /// Prepare the API's most frequent reads once per connection (`FrequentStatement`). Off for a pooler in
    /// transaction mode that hands each statement to another server connection and cannot follow named
    /// prepared statements (PgBouncer before 1.21, or later ones with `max_prepared_statements = 0`).
    public var preparedStatements: Bool

    public init(
        size: Int = 5,
        maxOverflow: Int = 10,
        timeout: Duration = .seconds(30),
        recycle: Duration = .seconds(3600),
        prePing: Bool = true,
        statementTimeout: Duration = .seconds(120),
        idleInTransactionTimeout: Duration = .seconds(60),
        preparedStatements: Bool = true
    ) {
        self.size = size
        self.maxOverflow = maxOverflow
        self.timeout = timeout
        self.recycle = recycle
        self.prePing = prePing
        self.statementTimeout = statementTimeout
        self.idleInTransactionTimeout = idleInTransactionTimeout
        self.preparedStatements = preparedStatements
    }

    /// The pool's hard ceiling, which is what the server's `max_connections` has to accommodate per instance.
    public var maximumConnections: Int { size + maxOverflow }
}

/// Everything Dovetail reads from its environment, resolved once at start-up.
///
/// Loading validates every value up front so that a typo stops the process with one clear line,
/// rather than surfacing as a confusing failure on the first request.
public struct DovetailConfiguration: Sendable {
    public var databaseURL: DatabaseURL
    public var pool: PoolSettings
    /// Events, finished runs and deleted sessions older than this are purged.
    public var historyRetentionDays: Int
    /// `RETENTION_INTERVAL`: how often `serve` purges (one replica at a time), and so how soon another replica
    /// takes the purge over after the one running it dies.
    public var retentionInterval: Duration = .seconds(3600)
    /// Where `serve` listens: loopback by default, so a laptop run is not exposed to the network.
    public var host: String
    public var port: Int
    /// `DOVETAIL_AUTH=required`: demand service tokens on a loopback listener too. Any other listener always
    /// demands them (`authRequired`).
    public var authRequiredOnLoopback = false
    /// `SHUTDOWN_TIMEOUT`: how long `serve` lets requests and streams finish after SIGTERM before it
    /// exits regardless. Below Kubernetes' default 30 s grace period, so the process ends on its own terms.
    public var shutdownTimeout: Duration = .seconds(25)
    /// Every variable after precedence is applied (overrides, then process environment, then `.env`),
    /// so later features read their own settings with the same rules without loading anything again.
    /// May contain secrets: never log it.
    public var environment: [String: String]

    public init(
        databaseURL: DatabaseURL = .defaultURL,
        pool: PoolSettings = PoolSettings(),
        historyRetentionDays: Int = 90,
        host: String = "127.0.0.1",
        port: Int = 8080,
        environment: [String: String] = [:]
    ) {
        self.databaseURL = databaseURL
        self.pool = pool
        self.historyRetentionDays = historyRetentionDays
        self.host = host
        self.port = port
        self.environment = environment
    }

    /// Sources, highest priority first: `overrides` (CLI flags), the process environment, `.env` in
    /// `directory`, defaults.
    ///
    /// A variable set to an empty string counts as unset (`PORT= dovetail serve` means the default);
    /// it still hides a `.env` value, because the process environment was explicitly given.
    public static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        directory: String = FileManager.default.currentDirectoryPath,
        overrides: [String: String] = [:]
    ) throws(ConfigurationError) -> DovetailConfiguration {
        let dotEnvPath = directory.hasSuffix("/") ? directory + ".env" : directory + "/.env"
        var merged = try EnvironmentFile.load(path: dotEnvPath)
        merged.merge(environment) { _, process in process }
        merged.merge(overrides) { _, override in override }
        let reader = Reader(values: merged)

        var configuration = DovetailConfiguration(environment: merged)

        let urlText = reader.string(Key.databaseURL)
        if let urlText {
            configuration.databaseURL = try DatabaseURL.parse(urlText, label: Key.databaseURL)
        }
        if let mode = reader.string(Key.dbMode) {
            try checkMode(mode, against: configuration.databaseURL, urlWasSet: urlText != nil)
        }

        var pool = PoolSettings()
        pool.size = try reader.integer(Key.poolSize, in: 1..., expected: "a whole number of connections ≥ 1, e.g. 5") ?? pool.size
        pool.maxOverflow = try reader.integer(Key.maxOverflow, in: 0..., expected: "a whole number of connections ≥ 0, e.g. 10") ?? pool.maxOverflow
        pool.timeout = try reader.seconds(Key.poolTimeout, allowZero: false) ?? pool.timeout
        pool.recycle = try reader.seconds(Key.poolRecycle, allowZero: false) ?? pool.recycle
        pool.prePing = try reader.boolean(Key.prePing) ?? pool.prePing
        pool.statementTimeout = try reader.seconds(Key.statementTimeout, allowZero: true) ?? pool.statementTimeout
        pool.idleInTransactionTimeout = try reader.seconds(Key.idleInTransactionTimeout, allowZero: true) ?? pool.idleInTransactionTimeout
        pool.preparedStatements = try reader.boolean(Key.preparedStatements) ?? pool.preparedStatements
        configuration.pool = pool

        configuration.historyRetentionDays =
            try reader.integer(Key.historyRetentionDays, in: 1..., expected: "a whole number of days ≥ 1, e.g. 90")
            ?? configuration.historyRetentionDays
        configuration.retentionInterval = try reader.seconds(Key.retentionInterval, allowZero: false) ?? configuration.retentionInterval
        configuration.host = reader.string(Key.host) ?? configuration.host
        configuration.port =
            try reader.integer(Key.port, in: 0...65535, expected: "a port number from 0 to 65535 (0 picks a free port), e.g. 8080")
            ?? configuration.port
        configuration.authRequiredOnLoopback = try authSetting(reader.string(Key.auth))
        configuration.shutdownTimeout = try reader.seconds(Key.shutdownTimeout, allowZero: false) ?? configuration.shutdownTimeout
        return configuration
    }

    /// Whether `serve` demands service tokens: always off loopback, on loopback when `DOVETAIL_AUTH` asks.
    public var authRequired: Bool {
        authRequiredOnLoopback || !LoopbackHost.contains(host)
    }

    /// `DOVETAIL_AUTH`: a misspelt value must not leave a server open that its operator meant to close,
    /// so anything not clearly on or off stops start-up.
    private static func authSetting(_ value: String?) throws(ConfigurationError) -> Bool {
        guard let value else { return false }
        switch value.lowercased() {
        case "required", "true", "1", "yes", "on": return true
        case "loopback", "optional", "false", "0", "no", "off": return false
        default:
            throw .invalidValue(
                variable: Key.auth, value: value,
                expected: "required (tokens on every route but /health, also on loopback) or loopback (the default: open on 127.0.0.1 only)"
            )
        }
    }

    /// `DB_MODE` exists to catch a deployment that expects PostgreSQL but would silently start on an
    /// empty SQLite file (a missing or misspelt `DATABASE_URL`), so a disagreement stops start-up.
    private static func checkMode(_ mode: String, against url: DatabaseURL, urlWasSet: Bool) throws(ConfigurationError) {
        let expected: DatabaseBackend
        switch mode.lowercased() {
        case "sqlite": expected = .sqlite
        case "postgres", "postgresql": expected = .postgres
        default:
            throw .invalidValue(variable: Key.dbMode, value: mode, expected: "sqlite or postgres (or leave DB_MODE unset to follow DATABASE_URL)")
        }
        guard expected != url.backend else { return }
        let source = urlWasSet ? "\(Key.databaseURL) is" : "\(Key.databaseURL) is unset, so the default is used:"
        let (kind, wanted) = url.backend == .sqlite ? ("a SQLite", "postgresql://") : ("a PostgreSQL", "sqlite:///")
        throw .backendMismatch(
            "\(Key.dbMode)=\(mode) but \(source) \(kind) URL (\(url.redacted)); set \(Key.databaseURL) to a \(wanted) URL or unset \(Key.dbMode)"
        )
    }

    enum Key {
        static let databaseURL = "DATABASE_URL"
        static let dbMode = "DB_MODE"
        static let poolSize = "POSTGRES_POOL_SIZE"
        static let maxOverflow = "POSTGRES_MAX_OVERFLOW"
        static let poolTimeout = "POSTGRES_POOL_TIMEOUT"
        static let poolRecycle = "POSTGRES_POOL_RECYCLE"
        static let prePing = "POSTGRES_POOL_PRE_PING"
        static let statementTimeout = "POSTGRES_STATEMENT_TIMEOUT"
        static let idleInTransactionTimeout = "POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT"
        static let preparedStatements = "POSTGRES_PREPARED_STATEMENTS"
        static let historyRetentionDays = "HISTORY_RETENTION_DAYS"
        static let retentionInterval = "RETENTION_INTERVAL"
        static let host = "HOST"
        static let port = "PORT"
        static let auth = "DOVETAIL_AUTH"
        static let shutdownTimeout = "SHUTDOWN_TIMEOUT"
    }

    /// Typed reads of the merged variables, for every layer that reads the environment (agent databases
    /// too), so that each variable is trimmed, validated and reported the same way. The values echoed in
    /// its errors are numbers and flags, never secrets; `DATABASE_URL` and passwords are not read through it.
    package struct Reader {
        let values: [String: String]

        package init(values: [String: String]) {
            self.values = values
        }

        /// Trimmed, with empty meaning unset.
        package func string(_ key: String) -> String? {
            guard let raw = values[key] else { return nil }
            let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            return value.isEmpty ? nil : value
        }

        package func integer(_ key: String, in range: some RangeExpression<Int>, expected: String) throws(ConfigurationError) -> Int? {
            guard let text = string(key) else { return nil }
            guard let value = Int(text), range.contains(value) else {
                throw .invalidValue(variable: key, value: text, expected: expected)
            }
            return value
        }

        /// Plain decimal seconds ("30", "2.5"); `Double`'s other spellings (hex, "inf", exponents)
        /// are refused because nobody means them in a timeout.
        package func seconds(_ key: String, allowZero: Bool) throws(ConfigurationError) -> Duration? {
            guard let text = string(key) else { return nil }
            let expected = allowZero ? "a number of seconds ≥ 0, e.g. 30 or 2.5 (0 disables it)" : "a number of seconds > 0, e.g. 30 or 2.5"
            let digits = text.filter { $0 != "." }
            guard !digits.isEmpty, text.filter({ $0 == "." }).count <= 1, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Double(text), value <= 1_000_000_000
            else {
                throw .invalidValue(variable: key, value: text, expected: expected)
            }
            // Millisecond precision is what PostgreSQL's timeouts take; a value that rounds to zero is zero.
            let milliseconds = Int64((value * 1000).rounded())
            guard allowZero || milliseconds > 0 else { throw .invalidValue(variable: key, value: text, expected: expected) }
            return .milliseconds(milliseconds)
        }

        package func boolean(_ key: String) throws(ConfigurationError) -> Bool? {
            guard let text = string(key) else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw .invalidValue(variable: key, value: text, expected: "true or false (also 1/0, yes/no, on/off)")
            }
        }
    }
}
