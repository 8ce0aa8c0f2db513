import DovetailStore
import Foundation

/// Where agents' databases live and how they are launched, read from the merged environment
/// (`DovetailConfiguration.environment`: overrides, process environment, `.env`).
public struct AgentDatabaseConfiguration: Sendable {
    public enum Backend: Sendable, Equatable {
        /// One SQLite file per agent under `dataDirectory/agents/`.
        case sqlite
        /// One role and database per agent on a PostgreSQL server reached as `admin` (its `database` is `postgres`).
        case postgres(admin: PostgresConnectionInfo, mode: PostgresMode)
    }

    public enum PostgresMode: String, Sendable {
        /// `AGENT_DB_HOST` names the server and `AGENT_DB_ADMIN_USER/PASSWORD` the admin.
        case bringYourOwn = "byo"
        /// The local server `dovetail postgres` manages.
        case managed
    }

    public var backend: Backend
    /// `NAMESPACE`, the first part of every agent database name.
    public var namespace: String
    /// `AGENT_DB_APPLICATION_PASSWORD`: one password shared by every agent role, for compatibility. When nil,
    /// each agent gets its own password derived from the secret in `dataDirectory/agent-secret`.
    public var applicationPassword: String?
    /// `CLEANUP_AGENT_DATABASES`: undeploy drops the database and role.
    public var cleanupOnUndeploy: Bool
    /// `DOVETAIL_DATA_DIR`: SQLite agent files, the password secret and written configuration files.
    public var dataDirectory: String
    /// `AGENT_DEPLOY_COMMAND` / `AGENT_UPDATE_COMMAND` / `AGENT_UNDEPLOY_COMMAND`.
    public var deployCommand: String?
    public var updateCommand: String?
    public var undeployCommand: String?
    /// `AGENT_DB_CONNECT_TIMEOUT` (seconds): how long to retry an unreachable server before failing.
    public var connectTimeout: Duration
    /// `AGENT_DB_SPARE_DATABASES`: how many ready, unclaimed databases to keep on a PostgreSQL server so a
    /// first deploy renames one instead of waiting for `CREATE DATABASE` (copying `template1` is ~95% of a
    /// first deploy). 0 disables the pool. Ignored for SQLite.
    public var spareDatabases: Int
    public static let defaultSpareDatabases = 2
    public static let maximumSpareDatabases = 100

    public init(
        backend: Backend = .sqlite,
        namespace: String = "dovetail",
        applicationPassword: String? = nil,
        cleanupOnUndeploy: Bool = false,
        dataDirectory: String = "./data",
        deployCommand: String? = nil,
        updateCommand: String? = nil,
        undeployCommand: String? = nil,
        connectTimeout: Duration = .seconds(30),
        spareDatabases: Int = AgentDatabaseConfiguration.defaultSpareDatabases
    ) {
        self.backend = backend
        self.namespace = namespace
        self.applicationPassword = applicationPassword
        self.cleanupOnUndeploy = cleanupOnUndeploy
        self.dataDirectory = dataDirectory
        self.deployCommand = deployCommand
        self.updateCommand = updateCommand
        self.undeployCommand = undeployCommand
        self.connectTimeout = connectTimeout
        self.spareDatabases = spareDatabases
    }

    /// Reads the variables listed in the README. `managedAdmin` is the admin connection of the local server
    /// `dovetail postgres` manages, when there is one: it is used when `AGENT_DB_HOST` is unset.
    public init(environment: [String: String], managedAdmin: PostgresConnectionInfo? = nil) throws(AgentDatabaseError) {
        let reader = DovetailConfiguration.Reader(values: environment)
        func value(_ key: String) -> String? { reader.string(key) }
        // Passwords are taken verbatim: leading or trailing spaces may be part of them.
        func secret(_ key: String) -> String? {
            guard let raw = environment[key], !raw.isEmpty else { return nil }
            return raw
        }
        /// The shared reader's checks, reported as this layer's configuration error.
        func checked<T>(_ read: () throws(ConfigurationError) -> T) throws(AgentDatabaseError) -> T {
            do { return try read() } catch { throw .configuration(error.message) }
        }
        func flag(_ key: String) throws(AgentDatabaseError) -> Bool {
            try checked { () throws(ConfigurationError) in try reader.boolean(key) } ?? false
        }

        self.init()
        namespace = value("NAMESPACE") ?? "dovetail"
        applicationPassword = secret("AGENT_DB_APPLICATION_PASSWORD")
        cleanupOnUndeploy = try flag("CLEANUP_AGENT_DATABASES")
        dataDirectory = value("DOVETAIL_DATA_DIR") ?? "./data"
        deployCommand = value("AGENT_DEPLOY_COMMAND")
        updateCommand = value("AGENT_UPDATE_COMMAND")
        undeployCommand = value("AGENT_UNDEPLOY_COMMAND")
        if let seconds = try checked({ () throws(ConfigurationError) in try reader.seconds("AGENT_DB_CONNECT_TIMEOUT", allowZero: true) }) {
            connectTimeout = seconds
        }
        let spareRange = 0...Self.maximumSpareDatabases
        if let spares = try checked({ () throws(ConfigurationError) in
            try reader.integer("AGENT_DB_SPARE_DATABASES", in: spareRange, expected: "a number of spare databases (0-\(Self.maximumSpareDatabases); 0 disables the pool)")
        }) {
            spareDatabases = spares
        }
        guard try flag("USE_POSTGRESQL_FOR_AGENTS") else { return }

        if let host = value("AGENT_DB_HOST") {
            var port = PostgresConnectionInfo.defaultPort
            if let number = try checked({ () throws(ConfigurationError) in
                try reader.integer("AGENT_DB_PORT", in: 1...65535, expected: "a port number (1-65535)")
            }) {
                port = number
            }
            guard let user = value("AGENT_DB_ADMIN_USER") else {
                throw .configuration(
                    "USE_POSTGRESQL_FOR_AGENTS=true with AGENT_DB_HOST=\(host) needs AGENT_DB_ADMIN_USER (and AGENT_DB_ADMIN_PASSWORD): "
                        + "a role with CREATEDB and CREATEROLE on that server."
                )
            }
            let admin = PostgresConnectionInfo(
                host: host, port: port, username: user, password: secret("AGENT_DB_ADMIN_PASSWORD"), database: "postgres",
                applicationName: "dovetail-agents"
            )
            backend = .postgres(admin: admin, mode: .bringYourOwn)
        } else if var managedAdmin = managedAdmin ?? Self.managedServerAdmin(environment) {
            managedAdmin.database = "postgres"
            managedAdmin.applicationName = "dovetail-agents"
            backend = .postgres(admin: managedAdmin, mode: .managed)
        } else {
            throw .configuration(
                "USE_POSTGRESQL_FOR_AGENTS=true needs a server: set AGENT_DB_HOST, AGENT_DB_PORT, AGENT_DB_ADMIN_USER and "
                    + "AGENT_DB_ADMIN_PASSWORD (bring your own), or run the managed server with `dovetail postgres`."
            )
        }
    }

    /// The superuser that `dovetail postgres init` wrote to `.env` (`POSTGRES_USER`, `POSTGRES_PASSWORD`,
    /// `POSTGRES_PORT`): the managed server listens on 127.0.0.1 only, so that is where agents' databases go.
    static func managedServerAdmin(_ environment: [String: String]) -> PostgresConnectionInfo? {
        guard let user = environment["POSTGRES_USER"], !user.isEmpty,
              let password = environment["POSTGRES_PASSWORD"], !password.isEmpty,
              let portText = environment["POSTGRES_PORT"], let port = Int(portText.trimmingCharacters(in: .whitespaces)),
              (1...65535).contains(port)
        else { return nil }
        return PostgresConnectionInfo(
            host: "127.0.0.1", port: port, username: user, password: password, database: "postgres", sslMode: .disable,
            applicationName: "dovetail-agents"
        )
    }

    public var backendName: String {
        switch backend {
        case .sqlite: "sqlite"
        case .postgres: "postgres"
        }
    }
}
