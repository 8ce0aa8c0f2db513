import Foundation
import Logging
import SQLKit

/// A row of `schema_migrations`.
public struct MigrationRecord: Sendable, Equatable, Codable {
    public var version: Int
    public var name: String
    public var checksum: String
    public var appliedAt: Timestamp
    public var durationMs: Int64
}

/// What `db status` reports.
public struct MigrationState: Sendable {
    public var applied: [MigrationRecord]
    public var pending: [Migration]
    /// Applied migrations whose text changed since.
    public var drifted: [MigrationRecord]
    /// Applied versions this binary does not know (the database is newer).
    public var unknown: [MigrationRecord]

    public var currentVersion: Int { applied.map(\.version).max() ?? 0 }
    public var isUpToDate: Bool { pending.isEmpty && drifted.isEmpty && unknown.isEmpty }

    /// Throws when a newer dovetail has migrated the database past what this one knows: `serve` refuses to start on it.
    public func refuseNewerDatabase() throws(MigrationError) {
        if let newest = unknown.map(\.version).max() {
            throw MigrationError.newerDatabase(version: newest, known: Migrations.latestVersion)
        }
    }
}

/// What `db check` reports.
public struct SchemaCheck: Sendable {
    public var state: MigrationState
    /// Differences between the live schema and the one the applied migrations describe.
    public var schemaDifferences: [String]
    public var isClean: Bool { state.drifted.isEmpty && state.unknown.isEmpty && schemaDifferences.isEmpty }
}

/// Applies migrations in order, one transaction each, exactly once even when several processes
/// migrate the same database at the same moment.
public struct Migrator: Sendable {
    public let database: Database
    public let migrations: [Migration]

    public init(database: Database, migrations: [Migration] = Migrations.all) {
        self.database = database
        self.migrations = migrations
    }

    public func state() async throws -> MigrationState {
        let records = try await appliedRecords()
        let dialect = database.dialect
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        let appliedVersions = Set(records.map(\.version))
        return MigrationState(
            applied: records,
            pending: migrations.filter { !appliedVersions.contains($0.version) },
            drifted: records.filter { record in known[record.version].map { $0.checksum(for: dialect) != record.checksum } ?? false },
            unknown: records.filter { known[$0.version] == nil }
        )
    }

    /// Applies every pending migration and returns the ones this call applied.
    @discardableResult
    public func migrate(logger: Logger) async throws -> [MigrationRecord] {
        let current = try await state()
        if !current.drifted.isEmpty { throw MigrationError.drift(current.drifted) }
        try current.refuseNewerDatabase()
        var applied: [MigrationRecord] = []
        for migration in current.pending {
            if let record = try await apply(migration) {
                logger.info("Applied migration", metadata: ["version": "\(record.version)", "name": "\(record.name)", "ms": "\(record.durationMs)"])
                applied.append(record)
            }
        }
        return applied
    }

    /// Applies one migration unless a concurrent runner already did; returns nil in that case.
    private func apply(_ migration: Migration) async throws -> MigrationRecord? {
        let dialect = database.dialect
        return try await database.write { sql in
            if let lock = dialect.migrationLockStatement {
                try await sql.raw(SQLQueryString(lock)).run()
            }
            for statement in Migrations.bookkeeping.statements(for: dialect) {
                try await sql.raw(SQLQueryString(statement)).run()
            }
            let alreadyApplied = try await sql.raw("SELECT version FROM schema_migrations WHERE version = \(bind: migration.version)").first()
            if alreadyApplied != nil { return nil }
            let clock = ContinuousClock()
            let start = clock.now
            for statement in migration.statements(for: dialect) {
                try await sql.raw(SQLQueryString(statement)).run()
            }
            let record = MigrationRecord(
                version: migration.version,
                name: migration.name,
                checksum: migration.checksum(for: dialect),
                appliedAt: .now(),
                durationMs: start.duration(to: clock.now).milliseconds
            )
            try await sql.raw("""
                INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms)
                VALUES (\(bind: record.version), \(bind: record.name), \(bind: record.checksum), \(bind: record.appliedAt), \(bind: record.durationMs))
                """).run()
            return record
        }
    }

    private func appliedRecords() async throws -> [MigrationRecord] {
        let dialect = database.dialect
        return try await database.read { sql in
            guard try await dialect.tableExists("schema_migrations", sql) else { return [] }
            return try await sql.raw("SELECT version, name, checksum, applied_at, duration_ms FROM schema_migrations ORDER BY version").all().map { row in
                MigrationRecord(
                    version: try row.decode(column: "version", as: Int.self),
                    name: try row.decode(column: "name", as: String.self),
                    checksum: try row.decode(column: "checksum", as: String.self),
                    appliedAt: try row.decode(column: "applied_at", as: Timestamp.self),
                    durationMs: try row.decode(column: "duration_ms", as: Int64.self)
                )
            }
        }
    }

    /// Drift in migration texts plus differences between the live schema and the one the applied
    /// migrations produce when run on an empty database of the same dialect.
    public func check() async throws -> SchemaCheck {
        let current = try await state()
        let appliedVersions = Set(current.applied.map(\.version))
        let applied = migrations.filter { appliedVersions.contains($0.version) }
        let (expected, expectedSearch) = try await inScratchSchema(applied) { dialect, sql in
            (try await dialect.describeSchema(sql), try await dialect.describeSearchObjects(sql))
        }
        let live = try await liveSchema()
        let liveSearch = try await liveSearchObjects()
        return SchemaCheck(
            state: current,
            schemaDifferences: live.differences(from: expected) + SearchObject.differences(live: liveSearch, expected: expectedSearch)
        )
    }

    public func liveSchema() async throws -> SchemaDescription {
        let dialect = database.dialect
        return try await database.read { sql in try await dialect.describeSchema(sql) }
    }

    /// The full-text search objects of the live schema (see `SearchObject`).
    public func liveSearchObjects() async throws -> [SearchObject] {
        let dialect = database.dialect
        return try await database.read { sql in try await dialect.describeSearchObjects(sql) }
    }

    /// The full-text search objects `migrations` (by default all of this migrator's) create on an empty database.
    public func expectedSearchObjects(_ migrations: [Migration]? = nil) async throws -> [SearchObject] {
        try await inScratchSchema(migrations ?? self.migrations) { dialect, sql in try await dialect.describeSearchObjects(sql) }
    }

    /// Runs `migrations` somewhere empty and describes the result: a scratch `:memory:` database on
    /// SQLite, a scratch schema inside a rolled-back transaction on PostgreSQL.
    public func expectedSchema(_ migrations: [Migration]? = nil) async throws -> SchemaDescription {
        try await inScratchSchema(migrations ?? self.migrations) { dialect, sql in try await dialect.describeSchema(sql) }
    }

    /// Runs `migrations` somewhere empty of this database's dialect and hands `describe` a session on the result.
    private func inScratchSchema<T: Sendable>(
        _ migrations: [Migration], _ describe: @escaping @Sendable (Dialect, any SQLDatabase) async throws -> T
    ) async throws -> T {
        let statements = ([Migrations.bookkeeping] + migrations).flatMap { $0.statements(for: database.dialect) }
        switch database.dialect {
        case .sqlite:
            let scratch = try await Database.open(.sqlite(.memory), logger: Logger(label: "dovetail.schema-check"))
            defer { Task { await scratch.shutdown() } }
            return try await scratch.withSession { sql in
                for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
                return try await describe(.sqlite, sql)
            }
        case .postgres:
            let schema = "dovetail_expected_\(UUID().uuidString.prefix(8).lowercased())"
            return try await database.withSession { sql in
                try await sql.raw("BEGIN").run()
                do {
                    try await sql.raw("CREATE SCHEMA \(ident: schema)").run()
                    try await sql.raw("SET LOCAL search_path TO \(ident: schema)").run()
                    for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
                    let description = try await describe(.postgres, sql)
                    try await sql.raw("ROLLBACK").run()
                    return description
                } catch {
                    try? await sql.raw("ROLLBACK").run()
                    throw error
                }
            }
        }
    }
}
