import DovetailStore
import Foundation
import Logging
import PostgresNIO

/// `USE_POSTGRESQL_FOR_AGENTS=true`: a role and a database per agent, both named `{namespace}_{agentId}_agent`.
///
/// Connects as the admin to the `postgres` database with one `PostgresConnection` per operation and runs
/// plain SQL — no `psql`, no shell — with identifiers in double quotes (`"` doubled). `CREATE ROLE … PASSWORD`
/// cannot take a bind parameter, and PostgreSQL writes failing statements to its log, so the password never
/// goes into a statement: Dovetail sends a SCRAM-SHA-256 verifier computed from it (`ScramVerifier`), as a
/// standard-conforming string literal (`standard_conforming_strings=on` is sent at start-up).
///
/// `provision` and `drop` of one agent hold a session advisory lock on the agent's name, so deploys of one
/// agent from several processes (replicas, the CLI) take turns instead of racing on its role and database.
///
/// Every step tolerates a twin that got there first: duplicate-object errors (42710, 42P04, 23505 on the
/// catalogs) mean "already exists", and catalog update races ("tuple concurrently updated") are retried.
/// The role gets `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`, owns its database, and `CONNECT` is revoked
/// from `PUBLIC` on that database, so no other agent can connect to it.
///
/// A new agent's database is a claimed spare when `AGENT_DB_SPARE_DATABASES` > 0 and one is ready (see
/// `AgentSpareDatabases`), else made by `CREATE DATABASE`; either way it ends in the same state.
public struct PostgresAgentProvisioner: AgentDatabaseProvisioner {
    public let configuration: AgentDatabaseConfiguration
    let admin: PostgresConnectionInfo
    /// Shared by copies of this provisioner, so one process runs one spare refill at a time.
    let refills = SpareRefillQueue()

    public init(configuration: AgentDatabaseConfiguration) {
        self.configuration = configuration
        if case .postgres(let admin, _) = configuration.backend {
            self.admin = admin
        } else {
            self.admin = PostgresConnectionInfo(database: "postgres")
        }
    }

    var server: String {
        if let socket = admin.unixSocketDirectory { return "PostgreSQL at \(socket) (port \(admin.port))" }
        return "PostgreSQL at \(admin.host.contains(":") ? "[\(admin.host)]" : admin.host):\(admin.port)"
    }

    // MARK: Operations

    public func provision(agentId: String, logger: Logger) async throws -> AgentDatabase {
        let name = try configuration.databaseName(for: agentId).value
        let password = try AgentPasswords(configuration: configuration).password(forRole: name)
        guard !password.unicodeScalars.contains("\0") else {
            throw AgentDatabaseError(.configuration, "AGENT_DB_APPLICATION_PASSWORD contains a NUL character, which PostgreSQL cannot store.")
        }
        let spares = self.spares
        let verifier = ScramVerifier(password: password).text
        let outcome = try await withAdminConnection { session -> ProvisionOutcome in
            try await session.lockAgent(name)
            // One round trip for everything the steps below depend on (re-deploys are then two statements in all).
            let state = try await session.provisioningState(name: name, sparePattern: spares.enabled ? spares.pattern : nil)
            try state.rights.requireProvisioning(admin: admin.username, server: server)
            let role = Self.quoteIdentifier(name)
            // ALTER ROLE leaves out NOSUPERUSER: PostgreSQL refuses any mention of that attribute from a non-superuser.
            // The verifier, not the password: statements reach the server log. A fresh salt each time, as `\password` does.
            let attributes = "LOGIN NOCREATEDB NOCREATEROLE PASSWORD \(Self.quoteLiteral(verifier))"
            if state.roleExists {
                try await session.run("ALTER ROLE \(role) WITH \(attributes)", secret: verifier)
            } else if try await session.runTolerating("CREATE ROLE \(role) WITH NOSUPERUSER \(attributes)", secret: verifier) == .alreadyExists {
                try await session.run("ALTER ROLE \(role) WITH \(attributes)", secret: verifier)
            }
            // A non-superuser admin may only make a database owned by a role it can SET ROLE to (and drop it later).
            if !state.rights.superuser && !state.adminIsMember { try await session.runTolerating("GRANT \(role) TO CURRENT_USER") }
            if state.databaseExists {
                // Re-deploy: repair the privileges only when they are not exactly what deploy leaves.
                if state.databaseACL != Self.expectedACL(name) { try await grantOnlyToOwner(role, session: session) }
                return .existing
            }
            for spare in state.spares {
                switch try await claim(spare, as: name, session: session) {
                case .claimed: return .fromSpare
                case .gone: continue
                case .targetExists:
                    try await grantOnlyToOwner(role, session: session)
                    return .existing
                }
            }
            // CREATE DATABASE cannot run inside a transaction; the extended protocol runs it on its own.
            let created = try await session.runTolerating("CREATE DATABASE \(role) OWNER \(role)") == .done
            try await grantOnlyToOwner(role, session: session)
            return created ? .created : .existing
        }
        if outcome != .existing {
            logger.info(
                "Created agent database", metadata: ["database": "\(name)", "backend": "postgres", "spare": "\(outcome == .fromSpare)"]
            )
        }
        var database = database(name: name, password: password, created: outcome != .existing)
        database.fromSpare = outcome == .fromSpare
        return database
    }

    enum ProvisionOutcome: Sendable { case created, fromSpare, existing }

    /// `REVOKE ALL … FROM PUBLIC` and `GRANT CONNECT, TEMPORARY` to the role: only the owner may connect.
    private func grantOnlyToOwner(_ role: String, session: AdminSession) async throws {
        try await session.run("REVOKE ALL ON DATABASE \(role) FROM PUBLIC")
        try await session.run("GRANT CONNECT, TEMPORARY ON DATABASE \(role) TO \(role)")
    }

    /// `pg_database.datacl` as text after `grantOnlyToOwner` on a database the role owns (names are `[a-z0-9_]`,
    /// which `aclitem` prints unquoted): the owner's default `CTc` granted by itself, nothing for `PUBLIC`.
    static func expectedACL(_ name: String) -> String { "{\(name)=CTc/\(name)}" }

    public func locate(agentId: String, logger: Logger) async throws -> AgentDatabase {
        let name = try configuration.databaseName(for: agentId).value
        let password = try AgentPasswords(configuration: configuration).password(forRole: name)
        let found = try await withAdminConnection { session in
            try await session.exists(
                "SELECT 1 WHERE EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name
            )
        }
        guard found else {
            throw AgentDatabaseError(.notProvisioned, "Agent \(agentId) has no database '\(name)' on \(server); deploy it first.")
        }
        return database(name: name, password: password, created: false)
    }

    public func drop(agentId: String, logger: Logger) async throws -> Bool {
        let name = try configuration.databaseName(for: agentId).value
        let dropped = try await withAdminConnection { session in
            try await session.lockAgent(name)
            let state = try await session.provisioningState(name: name, sparePattern: nil)
            try state.rights.requireProvisioning(admin: admin.username, server: server)
            let role = Self.quoteIdentifier(name)
            let roleExists = state.roleExists
            let databaseExists = state.databaseExists
            if roleExists && !state.rights.superuser && !state.adminIsMember { try await session.runTolerating("GRANT \(role) TO CURRENT_USER") }
            if databaseExists {
                try await session.run(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", binding: name
                )
                try await session.run("DROP DATABASE IF EXISTS \(role) WITH (FORCE)")
            }
            if roleExists { try await session.run("DROP ROLE IF EXISTS \(role)") }
            return roleExists || databaseExists
        }
        if dropped { logger.info("Dropped agent database and role", metadata: ["database": "\(name)"]) }
        return dropped
    }

    func database(name: String, password: String, created: Bool) -> AgentDatabase {
        let info = PostgresConnectionInfo(
            host: admin.host, port: admin.port, unixSocketDirectory: admin.unixSocketDirectory, username: name, password: password,
            database: name, sslMode: admin.sslMode
        )
        return AgentDatabase(name: name, backend: "postgres", url: info.urlString, redactedURL: info.redactedURLString, created: created)
    }

    // MARK: Quoting

    /// `"name"` with embedded double quotes doubled.
    public static func quoteIdentifier(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// `'text'` with embedded single quotes doubled: a standard-conforming literal, in which a backslash is
    /// an ordinary character. Valid only with `standard_conforming_strings=on`, which every session sets.
    public static func quoteLiteral(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    // MARK: Connection

    /// Connects as the admin, retrying an unreachable or starting server with backoff for `connectTimeout`.
    func withAdminConnection<T: Sendable>(_ body: (AdminSession) async throws -> T) async throws -> T {
        let silent = Logger(label: "dovetail.agents.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
        var configuration = try admin.connectionConfiguration()
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [
            ("application_name", admin.applicationName), ("standard_conforming_strings", "on"),
        ]
        let connection = try await connect(configuration, logger: silent)
        do {
            let result = try await body(AdminSession(connection: connection, logger: silent, server: server, admin: admin.username))
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// One connection attempt after another, backing off from 0.1 s to 2 s, while the server is unreachable.
    private func connect(_ configuration: PostgresConnection.Configuration, logger: Logger) async throws -> PostgresConnection {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: self.configuration.connectTimeout)
        var delay = Duration.milliseconds(100)
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await PostgresConnection.connect(configuration: configuration, id: attempt, logger: logger)
            } catch {
                let explained = explainConnectFailure(error)
                let remaining = clock.now.duration(to: deadline)
                guard explained.kind == .unavailable else { throw explained }
                guard remaining > .zero else {
                    throw AgentDatabaseError(
                        .unavailable,
                        explained.message + " Gave up after \(attempt) attempt(s) over \(self.configuration.connectTimeout) (AGENT_DB_CONNECT_TIMEOUT)."
                    )
                }
                try await Task.sleep(for: min(delay, remaining))
                delay = min(delay * 2, .seconds(2))
            }
        }
    }

    func explainConnectFailure(_ error: any Error) -> AgentDatabaseError {
        let variables = "AGENT_DB_HOST/AGENT_DB_PORT"
        if let error = error as? PSQLError, error.code == .server {
            let state = error.serverInfo?[.sqlState] ?? ""
            switch state {
            case "28P01", "28000":
                return AgentDatabaseError(
                    .authentication,
                    "\(server) refused the admin login for '\(admin.username)': wrong password or no such role. "
                        + "Fix AGENT_DB_ADMIN_USER / AGENT_DB_ADMIN_PASSWORD."
                )
            case "57P03", "53300":
                return AgentDatabaseError(.unavailable, "\(server) is not accepting connections yet (SQLSTATE \(state)).")
            default:
                return AgentDatabaseError(.server, "\(server) refused the admin connection (SQLSTATE \(state)): \(error.serverInfo?[.message] ?? "").")
            }
        }
        if let error = error as? PSQLError, error.code == .sslUnsupported {
            return AgentDatabaseError(.configuration, "\(server) does not support TLS.")
        }
        return AgentDatabaseError(.unavailable, "\(server) is unreachable. Is the server running, and are \(variables) right?")
    }
}

/// What the admin role may do, from `pg_roles`.
struct AdminRights {
    var superuser: Bool
    var createDatabase: Bool
    var createRole: Bool

    func requireProvisioning(admin: String, server: String) throws {
        if superuser || (createDatabase && createRole) { return }
        let missing = [createDatabase ? nil : "CREATEDB", createRole ? nil : "CREATEROLE"].compactMap { $0 }.joined(separator: " and ")
        throw AgentDatabaseError(
            .permission,
            "The admin role '\(admin)' on \(server) lacks \(missing), which creating agent databases and roles needs. "
                + "As a superuser run: ALTER ROLE \(PostgresAgentProvisioner.quoteIdentifier(admin)) CREATEDB CREATEROLE; "
                + "or set AGENT_DB_ADMIN_USER to a role that has them."
        )
    }
}

/// `AdminSession.provisioningState`'s answer.
struct ProvisioningState {
    var rights: AdminRights
    var roleExists = false
    var adminIsMember = false
    var databaseExists = false
    var databaseACL: String?
    var spares: [String] = []
}

/// One admin connection's statements, with PostgreSQL errors turned into `AgentDatabaseError`s.
struct AdminSession {
    enum Outcome: Equatable { case done, alreadyExists }

    let connection: PostgresConnection
    let logger: Logger
    let server: String
    let admin: String

    /// Waits for, then holds until the connection closes, the session advisory lock of agent database `name`:
    /// one provision or drop of an agent at a time across every process sharing the server.
    func lockAgent(_ name: String) async throws {
        try await run("SELECT pg_advisory_lock(hashtext($1))", binding: Self.agentLockKey(name))
    }

    static func agentLockKey(_ name: String) -> String { "dovetail-agent:" + name }

    func adminRights() async throws -> AdminRights {
        let rows = try await perform(PostgresQuery(unsafeSQL: "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"))
        for try await (superuser, createDatabase, createRole) in rows.decode((Bool, Bool, Bool).self) {
            return AdminRights(superuser: superuser, createDatabase: createDatabase, createRole: createRole)
        }
        return AdminRights(superuser: false, createDatabase: false, createRole: false)
    }

    /// What provisioning `name` depends on, in one round trip: the admin's rights, whether the role and
    /// database exist, whether the admin is already a member of the role, the database's ACL, and (when
    /// `sparePattern` is given) the claimable spares in random order, so racing deploys try different ones first.
    func provisioningState(name: String, sparePattern: String?) async throws -> ProvisioningState {
        var bindings = PostgresBindings()
        bindings.append(name)
        if let sparePattern { bindings.append(sparePattern) }
        let spares = sparePattern == nil ? "ARRAY[]::text[]" : """
            ARRAY(SELECT datname::text FROM pg_database WHERE datname ~ $2 AND NOT datallowconn AND datdba = me.oid ORDER BY random())
            """
        let sql = """
            SELECT me.rolsuper, me.rolcreatedb, me.rolcreaterole,
                EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
                EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid WHERE r.rolname = $1 AND m.member = me.oid),
                EXISTS (SELECT 1 FROM pg_database WHERE datname = $1),
                (SELECT datacl::text FROM pg_database WHERE datname = $1),
                \(spares)
            FROM pg_roles me WHERE me.rolname = current_user
            """
        let rows = try await perform(PostgresQuery(unsafeSQL: sql, binds: bindings))
        for try await (superuser, createDatabase, createRole, roleExists, member, databaseExists, acl, spareNames) in rows.decode(
            (Bool, Bool, Bool, Bool, Bool, Bool, String?, [String]).self
        ) {
            return ProvisioningState(
                rights: AdminRights(superuser: superuser, createDatabase: createDatabase, createRole: createRole), roleExists: roleExists,
                adminIsMember: member, databaseExists: databaseExists, databaseACL: acl, spares: spareNames
            )
        }
        return ProvisioningState(rights: AdminRights(superuser: false, createDatabase: false, createRole: false))
    }

    /// The first column of every row, as text.
    func strings(_ sql: String, _ value: String) async throws -> [String] {
        var bindings = PostgresBindings()
        bindings.append(value)
        var result: [String] = []
        for try await text in try await perform(PostgresQuery(unsafeSQL: sql, binds: bindings)).decode(String.self) { result.append(text) }
        return result
    }

    func exists(_ sql: String, _ value: String) async throws -> Bool {
        var bindings = PostgresBindings()
        bindings.append(value)
        let rows = try await perform(PostgresQuery(unsafeSQL: sql, binds: bindings))
        for try await _ in rows { return true }
        return false
    }

    func run(_ sql: String, binding value: String) async throws {
        var bindings = PostgresBindings()
        bindings.append(value)
        for try await _ in try await perform(PostgresQuery(unsafeSQL: sql, binds: bindings)) {}
    }

    func run(_ sql: String, secret: String? = nil) async throws {
        for try await _ in try await perform(PostgresQuery(unsafeSQL: sql), secret: secret) {}
    }

    /// Runs `sql`, reading a duplicate-object error from a racing twin as `.alreadyExists`.
    @discardableResult
    func runTolerating(_ sql: String, secret: String? = nil) async throws -> Outcome {
        do {
            try await run(sql, secret: secret)
            return .done
        } catch let error as AgentDatabaseError where error.sqlState.map(Self.duplicateStates.contains) == true {
            return .alreadyExists
        }
    }

    /// 42710 duplicate_object, 42P04 duplicate_database, 23505 unique_violation on a catalog index (two
    /// sessions inserting the same role or database name at once).
    static let duplicateStates: Set<String> = ["42710", "42P04", "23505"]
    /// Worth repeating: catalog row update races (XX000 "tuple concurrently updated"), template1 busy
    /// (55006), serialization failures and deadlocks.
    static let transientStates: Set<String> = ["XX000", "55006", "40001", "40P01"]

    func perform(_ query: PostgresQuery, secret: String? = nil) async throws -> PostgresRowSequence {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await connection.query(query, logger: logger)
            } catch let error as PSQLError where error.code == .server {
                let state = error.serverInfo?[.sqlState] ?? ""
                if Self.transientStates.contains(state), attempt < 8 {
                    try await Task.sleep(for: .milliseconds(10 * attempt + Int.random(in: 0...20)))
                    continue
                }
                var message = error.serverInfo?[.message] ?? "no message"
                if let secret, !secret.isEmpty { message = message.replacingOccurrences(of: secret, with: "***") }
                if state == "42501" {
                    throw AgentDatabaseError(
                        .permission,
                        "The admin role '\(admin)' on \(server) may not do this: \(message). "
                            + "It needs CREATEDB and CREATEROLE (ALTER ROLE \(PostgresAgentProvisioner.quoteIdentifier(admin)) CREATEDB CREATEROLE)."
                    ).with(sqlState: state)
                }
                throw AgentDatabaseError(.server, "\(server) rejected a provisioning statement (SQLSTATE \(state)): \(message)")
                    .with(sqlState: state)
            } catch let error as PSQLError {
                throw AgentDatabaseError(.unavailable, "Lost the connection to \(server) (\(error.code)); deploy again to finish.")
            }
        }
    }
}
