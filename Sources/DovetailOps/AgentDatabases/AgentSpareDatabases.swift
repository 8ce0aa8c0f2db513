import Foundation
import Logging
import PostgresNIO

/// The pool of ready spare databases that takes `CREATE DATABASE` off the deploy path.
///
/// `CREATE DATABASE` copies `template1` (≈7.5 MB) and costs ~95% of a first deploy (≈390 ms of ≈413 ms
/// sequentially, far more under concurrency). A spare is that copy made ahead of time, so a first deploy
/// only renames it (`ALTER DATABASE … RENAME`), which is a catalog update.
///
/// A spare is `{namespace}_spare_{16 hex digits}`, owned by the admin, created from `template1` like any agent
/// database, with `ALLOW_CONNECTIONS false` (nobody, not even a superuser, can connect to it, so the rename
/// never meets a session and `pg_dumpall` skips it) and `ALL` revoked from `PUBLIC`. Agent databases always
/// end in `_agent` and spares in hex digits, so the two name sets are disjoint, and only databases matching
/// the exact spare pattern, not accepting connections and owned by the admin are ever claimed.
///
/// Claiming is one `DO` block, so one transaction: rename to the agent's name, allow connections, hand
/// ownership to the agent role (PostgreSQL rewrites the admin's ACL entries to the new owner, and on 15+
/// the `public` schema belongs to `pg_database_owner`), then the same `REVOKE ALL … FROM PUBLIC` and
/// `GRANT CONNECT, TEMPORARY` as the `CREATE DATABASE` path: the end state is the same catalog state. A twin
/// that renamed the same spare first leaves us "database does not exist" (3D000), and we try the next one;
/// when none is left, deploy falls back to `CREATE DATABASE`.
struct AgentSpareDatabases: Sendable {
    /// The longest namespace kept in a spare's name: 63 bytes minus `_spare_` and 16 hex digits.
    static let maximumPrefixLength = AgentDatabaseName.maximumLength - "_spare_".count - 16

    /// The sanitised namespace, cut to fit; the first part of every spare's name.
    let prefix: String
    /// The pool size, `AGENT_DB_SPARE_DATABASES`.
    let size: Int

    init(configuration: AgentDatabaseConfiguration) {
        prefix = String(AgentDatabaseName.sanitise(configuration.namespace).prefix(Self.maximumPrefixLength))
        size = configuration.spareDatabases
    }

    var enabled: Bool { size > 0 && !prefix.isEmpty }

    /// A POSIX regular expression matching exactly this namespace's spare names (the prefix is `[a-z0-9_]`).
    var pattern: String { "^" + prefix + "_spare_[0-9a-f]{16}$" }

    /// A fresh spare name: 64 random bits, so two refills never pick the same one.
    func newName() -> String {
        let hex = String(UInt64.random(in: 0 ... .max), radix: 16)
        return prefix + "_spare_" + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The advisory-lock key text: one refill per namespace and server at a time, across processes.
    var lockKey: String { "dovetail-agent-spares:" + prefix }

    /// Spares this admin may claim, oldest first: matching name, no connections allowed, owned by the admin.
    static let listSQL = """
        SELECT datname::text FROM pg_database
        WHERE datname ~ $1 AND NOT datallowconn AND datdba = (SELECT oid FROM pg_roles WHERE rolname = current_user)
        ORDER BY oid
        """

    /// The claim, one transaction. Names are `[a-z0-9_]` (sanitised or generated), so they cannot end the dollar quote.
    static func claimSQL(spare: String, target: String) -> String {
        let spare = PostgresAgentProvisioner.quoteIdentifier(spare)
        let target = PostgresAgentProvisioner.quoteIdentifier(target)
        return """
            DO $dovetail_claim$ BEGIN
            ALTER DATABASE \(spare) RENAME TO \(target);
            ALTER DATABASE \(target) WITH ALLOW_CONNECTIONS true;
            ALTER DATABASE \(target) OWNER TO \(target);
            REVOKE ALL ON DATABASE \(target) FROM PUBLIC;
            GRANT CONNECT, TEMPORARY ON DATABASE \(target) TO \(target);
            END $dovetail_claim$
            """
    }
}

/// Refills in one process never run side by side: a request made while a refill runs is folded into it (the
/// running refill makes one more pass and the requester waits for that), so ten deploys finishing together
/// cost one refill, not ten racing ones. Across processes the PostgreSQL advisory lock does the same.
actor SpareRefillQueue {
    private var running: Task<Void, any Error>?
    private var again = false

    func run(_ pass: @escaping @Sendable () async throws -> Void) async throws {
        if let running {
            again = true
            try await running.value
            return
        }
        let task = Task {
            do {
                repeat { try await pass() } while self.passAgain()
            } catch {
                self.finish()
                throw error
            }
        }
        running = task
        try await task.value
    }

    /// Called by the running refill after each pass: true when someone asked for another one meanwhile;
    /// otherwise the refill ends here, in the same actor turn, so no request can slip in between.
    private func passAgain() -> Bool {
        if again {
            again = false
            return true
        }
        running = nil
        return false
    }

    private func finish() {
        running = nil
        again = false
    }
}

extension PostgresAgentProvisioner {
    var spares: AgentSpareDatabases { AgentSpareDatabases(configuration: configuration) }

    public func spareCount(logger: Logger) async throws -> Int {
        guard spares.enabled else { return 0 }
        return try await withAdminConnection { session in try await session.strings(AgentSpareDatabases.listSQL, spares.pattern).count }
    }

    public func refillSpares(logger: Logger) async throws {
        guard spares.enabled else { return }
        try await refills.run { try await refillPass(logger: logger) }
    }

    /// Under the namespace's advisory lock: create spares until there are `size`, re-counting after each so
    /// spares claimed meanwhile are replaced, and drop any beyond `size` (after the setting was lowered).
    /// Bounded, so a pool drained as fast as it is filled cannot keep one refill going forever.
    private func refillPass(logger: Logger) async throws {
        let spares = self.spares
        let (created, dropped) = try await withAdminConnection { session -> (Int, Int) in
            let rights = try await session.adminRights()
            try rights.requireProvisioning(admin: admin.username, server: server)
            // Session-level: released by the unlock below or, at the latest, when the connection closes.
            try await session.run("SELECT pg_advisory_lock(hashtext($1))", binding: spares.lockKey)
            var created = 0
            var dropped = 0
            for _ in 0..<(spares.size * 3) {
                let existing = try await session.strings(AgentSpareDatabases.listSQL, spares.pattern)
                if existing.count > spares.size {
                    for name in existing.suffix(existing.count - spares.size) {
                        // A deploy may claim it first: then it no longer exists, which is as good.
                        try await session.runTolerating("DROP DATABASE IF EXISTS \(Self.quoteIdentifier(name))")
                        dropped += 1
                    }
                    break
                }
                guard existing.count < spares.size else { break }
                let name = Self.quoteIdentifier(spares.newName())
                try await session.run("CREATE DATABASE \(name) WITH ALLOW_CONNECTIONS false")
                try await session.run("REVOKE ALL ON DATABASE \(name) FROM PUBLIC")
                created += 1
            }
            try await session.run("SELECT pg_advisory_unlock(hashtext($1))", binding: spares.lockKey)
            return (created, dropped)
        }
        if created > 0 || dropped > 0 {
            logger.info("Refilled spare agent databases", metadata: ["created": "\(created)", "dropped": "\(dropped)", "pool": "\(spares.size)"])
        }
    }

    enum ClaimOutcome { case claimed, gone, targetExists }

    /// Renames `spare` to `target` and gives it to the agent role, all or nothing.
    func claim(_ spare: String, as target: String, session: AdminSession) async throws -> ClaimOutcome {
        do {
            try await session.run(AgentSpareDatabases.claimSQL(spare: spare, target: target))
            return .claimed
        } catch let error as AgentDatabaseError {
            switch error.sqlState {
            // 3D000: a twin claimed (or a refill dropped) it first. 55006: in use, which the pool never allows; skip it.
            case "3D000", "55006": return .gone
            case "42P04": return .targetExists
            default: throw error
            }
        }
    }
}
