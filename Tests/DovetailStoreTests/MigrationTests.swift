import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

@Suite("Migrations")
struct MigrationTests {
    @Test(arguments: TestBackend.allCases)
    func migrateAppliesEverythingOnceAndReportsStatus(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend, migrate: false) { store in
            let before = try await store.migrator.state()
            #expect(before.applied.isEmpty)
            #expect(before.pending.count == Migrations.all.count)
            #expect(!before.isUpToDate)

            let applied = try await store.migrator.migrate(logger: TestSupport.logger)
            #expect(applied.map(\.version) == Migrations.all.map(\.version))
            let after = try await store.migrator.state()
            #expect(after.isUpToDate)
            #expect(after.currentVersion == Migrations.latestVersion)
            #expect(after.applied.allSatisfy { !$0.checksum.isEmpty })

            #expect(try await store.migrator.migrate(logger: TestSupport.logger).isEmpty)
            let check = try await store.migrator.check()
            #expect(check.isClean, "unexpected differences: \(check.schemaDifferences)")
        }
    }

    /// Two runners started at once, each with its own connections, as two `dovetail db migrate`
    /// processes would be: every migration is applied by exactly one of them.
    @Test(arguments: TestBackend.persistent)
    func concurrentRunnersApplyEachMigrationExactlyOnce(_ backend: TestBackend) async throws {
        try await TestSupport.withDatabaseURL(backend) { url in
            var stores: [Store] = []
            for _ in 0..<3 { stores.append(try await Store.open(url, logger: TestSupport.logger)) }
            let runners = stores
            let outcome = await TestSupport.capture {
                try await withThrowingTaskGroup(of: [MigrationRecord].self) { group in
                    for store in runners { group.addTask { try await store.migrator.migrate(logger: TestSupport.logger) } }
                    var all: [[MigrationRecord]] = []
                    for try await result in group { all.append(result) }
                    return all
                }
            }
            let rows = try? await stores[0].database.read { sql in
                try await sql.raw("SELECT version FROM schema_migrations ORDER BY version").all().map { try $0.decode(column: "version", as: Int.self) }
            }
            for store in stores { await store.shutdown() }
            let results = try outcome.get()
            let appliedVersions = results.flatMap { $0.map(\.version) }
            #expect(appliedVersions.sorted() == Migrations.all.map(\.version), "each migration applied once, got \(appliedVersions)")
            #expect(rows == Migrations.all.map(\.version))
        }
    }

    @Test(arguments: TestBackend.allCases)
    func editedMigrationTextIsReportedAsDriftAndRefused(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            try await store.database.write { sql in
                try await sql.raw("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1").run()
            }
            let state = try await store.migrator.state()
            #expect(state.drifted.map(\.version) == [1])
            #expect(!state.isUpToDate)
            let check = try await store.migrator.check()
            #expect(!check.isClean)
            do {
                try await store.migrator.migrate(logger: TestSupport.logger)
                Issue.record("migrate must refuse a drifted database")
            } catch let error as MigrationError {
                #expect(error.message.contains("checksum"))
            }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func schemaChangedByHandIsReported(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            try await store.database.write { sql in
                try await sql.raw("DROP INDEX sessions_agent_idx").run()
                try await sql.raw("ALTER TABLE projects ADD COLUMN color TEXT").run()
            }
            let differences = try await store.migrator.check().schemaDifferences
            #expect(differences.contains { $0.contains("sessions_agent_idx") })
            #expect(differences.contains { $0.contains("projects.color") })
        }
    }

    /// Full-text search objects are outside the logical schema both dialects share, yet one that is missing (an
    /// interrupted `db copy` leaves PostgreSQL's out until `--resume`) is drift, never a clean check.
    @Test(arguments: TestBackend.allCases)
    func missingSearchObjectsAreReported(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let expected = try await store.migrator.expectedSearchObjects()
            #expect(try await store.migrator.liveSearchObjects() == expected)
            let dropped = backend == .postgres ? "messages_search_idx" : "messages_fts_insert"
            #expect(expected.contains { $0.name == dropped }, "\(expected)")
            try await store.database.write { sql in
                try await sql.raw(SQLQueryString(backend == .postgres ? "DROP INDEX \(dropped)" : "DROP TRIGGER \(dropped)")).run()
            }
            let check = try await store.migrator.check()
            #expect(!check.isClean)
            #expect(check.schemaDifferences.contains { $0.hasPrefix("full-text search") && $0.contains(dropped) && $0.hasSuffix("is missing") }, "\(check.schemaDifferences)")
            if backend == .postgres {
                // What `db copy` puts back is exactly what the migrations made.
                try await store.database.createSearchObjects(expected.filter { $0.name == dropped })
                #expect(try await store.migrator.check().isClean)
            }
        }
    }

    @Test
    func databaseNewerThanBinaryIsRefused() async throws {
        try await TestSupport.withStore(.sqliteMemory) { store in
            try await store.database.write { sql in
                try await sql.raw("""
                    INSERT INTO schema_migrations (version, name, checksum, applied_at, duration_ms)
                    VALUES (9999, 'from_the_future', 'x', \(bind: Timestamp.now()), 0)
                    """).run()
            }
            #expect(try await store.migrator.state().unknown.map(\.version) == [9999])
            await #expect(throws: MigrationError.self) { try await store.migrator.migrate(logger: TestSupport.logger) }
        }
    }

    /// Both dialects' migrations must describe the same tables, columns, types, nullability and indexes.
    @Test
    func bothDialectsProduceTheSameLogicalSchema() async throws {
        let sqlite = try await TestSupport.withStore(.sqliteMemory, migrate: false) { try await $0.migrator.expectedSchema() }
        let postgres = try await TestSupport.withStore(.postgres, migrate: false) { try await $0.migrator.expectedSchema() }
        #expect(!sqlite.tables.isEmpty)
        #expect(sqlite.tables.allSatisfy { table in table.columns.allSatisfy { !$0.type.hasPrefix("unknown") } }, "\(sqlite)")
        #expect(postgres.tables.allSatisfy { table in table.columns.allSatisfy { !$0.type.hasPrefix("unknown") } }, "\(postgres)")
        #expect(sqlite.differences(from: postgres).isEmpty, "differences: \(sqlite.differences(from: postgres))")
        #expect(sqlite == postgres)

        // The migrated live schema is the one described.
        let live = try await TestSupport.withStore(.postgres) { try await $0.migrator.liveSchema() }
        #expect(live == postgres)
    }

    @Test
    func checksumsArePerDialectAndStable() {
        for migration in Migrations.all {
            #expect(migration.checksum(for: .sqlite) == migration.checksum(for: .sqlite))
            #expect(migration.checksum(for: .sqlite) != migration.checksum(for: .postgres))
            #expect(migration.checksum(for: .postgres).count == 64)
        }
    }
}
