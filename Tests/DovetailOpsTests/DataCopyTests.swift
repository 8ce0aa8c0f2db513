import Crypto
@testable import DovetailOps
@testable import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

/// `db copy` and `db verify` on a real SQLite file and a real PostgreSQL server, both directions.
@Suite("db copy")
struct DataCopyTests {
    let logger = TestSupport.logger

    // MARK: Helpers

    /// Opens `url`, runs `body` and closes it again.
    func withDatabase<T: Sendable>(_ url: DatabaseURL, _ body: (Database) async throws -> T) async throws -> T {
        let database = try await Database.open(url, logger: logger)
        do {
            let result = try await body(database)
            await database.shutdown()
            return result
        } catch {
            await database.shutdown()
            throw error
        }
    }

    /// A migrated SQLite file holding the edge cases and the scratch table, closed again.
    func withSeededSQLite<T: Sendable>(scratch: Bool = true, _ body: (DatabaseURL) async throws -> T) async throws -> T {
        try await TestSupport.withDatabaseURL(.sqliteFile) { url in
            try await withDatabase(url) { database in
                try await Migrator(database: database).migrate(logger: logger)
                try await CopyFixtures.seedEdgeCases(database)
                if scratch {
                    try await CopyFixtures.createScratchTable(database)
                    try await CopyFixtures.fillScratchTable(database)
                }
            }
            return try await body(url)
        }
    }

    func copy(_ source: DatabaseURL, _ target: DatabaseURL, _ options: DataCopyOptions = DataCopyOptions()) async throws -> DataCopyReport {
        try await DataCopier(from: source, to: target, options: options, logger: logger).run()
    }

    func scalar<T: Decodable & Sendable>(_ database: Database, _ query: SQLQueryString, as type: T.Type = T.self) async throws -> T? {
        try await database.read { sql in try await sql.raw(query).first()?.decode(column: "v", as: T.self) }
    }

    static func fileDigest(_ url: DatabaseURL) throws -> String {
        guard case .sqlite(.file(let path)) = url else { return "" }
        return SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Both directions

    /// SQLite → PostgreSQL → SQLite keeps every value exactly: all three databases give identical checksums,
    /// the derived search objects are rebuilt by the targets, counters continue, the source file is untouched.
    @Test
    func roundTripKeepsEveryValue() async throws {
        try await withSeededSQLite { sqliteURL in
            let sourceDigest = try Self.fileDigest(sqliteURL)
            try await TestSupport.withDatabaseURL(.postgres) { postgresURL in
                try await withDatabase(postgresURL) { try await CopyFixtures.createScratchTable($0) }
                let there = try await copy(sqliteURL, postgresURL, DataCopyOptions(batchSize: 3))
                #expect(there.verified)
                let tables = Set(there.tables.map(\.table))
                #expect(tables.isSuperset(of: ["projects", "agents", "tasks", "sessions", "messages", "session_events", "copy_scratch"]))
                #expect(!tables.contains("schema_migrations"))
                #expect(!tables.contains { $0.hasPrefix("copy_scratch_fts") }, "virtual and shadow tables are derived, not copied")
                #expect(there.notes.contains { $0.contains("copy_scratch.label_search") })

                try await withDatabase(postgresURL) { (postgres: Database) async throws -> Void in
                    #expect(try await scalar(postgres, "SELECT settings->>'big' AS v FROM projects WHERE id = 'p-1'", as: String.self) == "123456789012345678901234567890")
                    #expect(try await scalar(postgres, "SELECT settings->>'dup' AS v FROM projects WHERE id = 'p-1'", as: String.self) == "2")
                    #expect(try await scalar(postgres, "SELECT (extract(epoch FROM created_at) * 1000)::bigint AS v FROM projects WHERE id = 'p-1'", as: Int64.self) == -1)
                    #expect(try await scalar(postgres, "SELECT description AS v FROM projects WHERE id = 'p-2'", as: String.self) == CopyFixtures.edgeText)
                    #expect(try await scalar(postgres, "SELECT name AS v FROM projects WHERE id = 'p-1'", as: String.self) == CopyFixtures.unicodeText)
                    #expect(try await scalar(postgres, "SELECT position AS v FROM tasks WHERE id = 't-1'", as: Int64.self) == .max)
                    #expect(try await scalar(postgres, "SELECT priority AS v FROM tasks WHERE id = 't-1'", as: Int64.self) == .min)
                    #expect(try await scalar(postgres, "SELECT count(*) AS v FROM agents WHERE last_error IS NULL", as: Int64.self) == 1)
                    #expect(try await scalar(postgres, "SELECT count(*) AS v FROM agents WHERE last_error = ''", as: Int64.self) == 1)
                    #expect(try await scalar(postgres, "SELECT archived AS v FROM projects WHERE id = 'p-1'", as: Bool.self) == true)
                    #expect(try await scalar(postgres, "SELECT length(data) AS v FROM copy_scratch WHERE id = 1", as: Int.self) == 256)
                    #expect(try await scalar(postgres, "SELECT get_byte(data, 200) AS v FROM copy_scratch WHERE id = 1", as: Int.self) == 200)
                    #expect(try await scalar(postgres, "SELECT length(data) AS v FROM copy_scratch WHERE id = 2", as: Int.self) == 0)
                    #expect(try await scalar(postgres, "SELECT ratio AS v FROM copy_scratch WHERE id = 13", as: Double.self) == .leastNonzeroMagnitude)
                    #expect(try await scalar(postgres, "SELECT ratio AS v FROM copy_scratch WHERE id = 17", as: Double.self) == .infinity)
                    // The generated search column was computed by PostgreSQL itself.
                    #expect(try await scalar(postgres, "SELECT count(*) AS v FROM copy_scratch WHERE label_search @@ to_tsquery('simple', 'bytes')", as: Int64.self) == 1)
                }

                try await TestSupport.withDatabaseURL(.sqliteFile) { backURL in
                    try await withDatabase(backURL) { try await CopyFixtures.createScratchTable($0) }
                    let back = try await copy(postgresURL, backURL)
                    #expect(back.verified)
                    for (first, second) in zip(there.tables, back.tables) {
                        #expect(first.table == second.table)
                        #expect(first.sourceChecksum == second.sourceChecksum, "\(first.table) changed on the way there")
                        #expect(first.sourceChecksum == second.targetChecksum, "\(first.table) changed on the way back")
                        #expect(first.rows == second.rows)
                    }
                    let compared = try await DataVerifier(from: sqliteURL, to: backURL, logger: logger).run()
                    #expect(compared.verified)
                    try await withDatabase(backURL) { (back: Database) async throws -> Void in
                        #expect(try await scalar(back, "SELECT description AS v FROM projects WHERE id = 'p-2'", as: String.self) == CopyFixtures.edgeText)
                        #expect(try await scalar(back, "SELECT created_at AS v FROM projects WHERE id = 'p-1'", as: String.self) == "1969-12-31T23:59:59.999Z")
                        #expect(try await scalar(back, "SELECT typeof(data) AS v FROM copy_scratch WHERE id = 2", as: String.self) == "blob")
                        #expect(try await scalar(back, "SELECT ratio AS v FROM copy_scratch WHERE id = 12", as: Double.self) == 1e-300)
                        // The FTS5 index was filled by the target's own triggers.
                        #expect(try await scalar(back, "SELECT count(*) AS v FROM copy_scratch_fts WHERE copy_scratch_fts MATCH 'bytes'", as: Int.self) == 1)
                        let settings = try await scalar(back, "SELECT settings AS v FROM projects WHERE id = 'p-1'", as: String.self) ?? ""
                        #expect(settings.contains("123456789012345678901234567890"))
                    }
                }

                // The copied counter continues after the largest copied key.
                try await withDatabase(postgresURL) { (postgres: Database) async throws -> Void in
                    let next = try await scalar(postgres, "INSERT INTO copy_scratch (label) VALUES ('after') RETURNING id AS v", as: Int64.self)
                    #expect(next == 20, "ids 1…19 were copied")
                }
            }
            #expect(try Self.fileDigest(sqliteURL) == sourceDigest, "the source file must not change")
        }
    }

    /// PostgreSQL → SQLite: a NaN that SQLite would silently turn into NULL is refused, naming the row.
    @Test
    func nanIsRefusedWhereSQLiteCannotStoreIt() async throws {
        try await TestSupport.withStore(.postgres) { postgres in
            try await CopyFixtures.seedEdgeCases(postgres.database)
            try await CopyFixtures.createScratchTable(postgres.database)
            try await CopyFixtures.fillScratchTable(postgres.database, includeNaN: true)
            try await TestSupport.withDatabaseURL(.sqliteFile) { target in
                try await withDatabase(target) { try await CopyFixtures.createScratchTable($0) }
                let outcome = await TestSupport.capture { try await copy(postgres.database.url, target) }
                guard case .failure(let error as CopyRowError) = outcome else {
                    Issue.record("expected a CopyRowError, got \(outcome)")
                    return
                }
                #expect(error.table == "copy_scratch")
                #expect(error.row == "id=99")
                #expect(error.column == "ratio")
                #expect(error.problem.contains("NaN"))
            }
        }
    }

    /// SQLite → PostgreSQL: text holding a NUL character, which PostgreSQL cannot store, is refused by row.
    @Test
    func nulCharacterIsRefusedByRow() async throws {
        try await withSeededSQLite(scratch: false) { source in
            try await withDatabase(source) { database in
                let now = Timestamp.now()
                try await database.write { sql in
                    try await sql.raw("""
                        INSERT INTO projects (id, name, slug, description, settings, archived, created_at, updated_at)
                        VALUES ('p-nul', 'nul', 'nul', \(bind: "before\u{0}after"), '{}', 0, \(bind: now), \(bind: now))
                        """).run()
                }
            }
            try await TestSupport.withDatabaseURL(.postgres) { target in
                let outcome = await TestSupport.capture { try await copy(source, target) }
                guard case .failure(let error as CopyRowError) = outcome else {
                    Issue.record("expected a CopyRowError, got \(outcome)")
                    return
                }
                #expect(error.table == "projects")
                #expect(error.row == "id=p-nul")
                #expect(error.column == "description")
                #expect(error.problem.contains("NUL"))
            }
        }
    }

    // MARK: Refusals

    @Test
    func olderSourceSchemaIsRefusedWithAdvice() async throws {
        try await withSeededSQLite(scratch: false) { source in
            try await TestSupport.withDatabaseURL(.sqliteFile) { target in
                // A dovetail that knows one migration more than the source has applied.
                var copier = DataCopier(from: source, to: target, logger: logger)
                copier.migrations = Migrations.all + [Migration(version: Migrations.latestVersion + 1, name: "future", sqlite: [], postgres: [])]
                let outcome = await TestSupport.capture { try await copier.run() }
                guard case .failure(let error as DataCopyError) = outcome else {
                    Issue.record("expected a DataCopyError, got \(outcome)")
                    return
                }
                #expect(error.kind == .schema)
                #expect(error.message.contains("older"))
                #expect(error.message.contains("dovetail db migrate"))
                if case .sqlite(.file(let path)) = target { #expect(!FileManager.default.fileExists(atPath: path), "a refused copy creates nothing") }
            }
        }
    }

    @Test
    func nonEmptyTargetIsRefusedUnlessTruncated() async throws {
        try await withSeededSQLite(scratch: false) { source in
            try await TestSupport.withDatabaseURL(.postgres) { target in
                #expect(try await copy(source, target).verified)
                let again = await TestSupport.capture { try await copy(source, target) }
                guard case .failure(let error as DataCopyError) = again else {
                    Issue.record("expected a DataCopyError, got \(again)")
                    return
                }
                #expect(error.kind == .targetNotEmpty)
                #expect(error.message.contains("--resume") && error.message.contains("--truncate"))
                #expect(error.message.contains("projects"))
                if case .postgres(let info) = target, let password = info.password { #expect(!error.message.contains(password)) }
                let truncated = try await copy(source, target, DataCopyOptions(truncate: true))
                #expect(truncated.verified)
                #expect(truncated.notes.contains { $0.contains("--truncate") })
            }
        }
    }

    @Test
    func unreachableTargetFailsQuicklyWithoutThePassword() async throws {
        try await withSeededSQLite(scratch: false) { source in
            let port = try TestSupport.freePort()
            let target = try DatabaseURL(parsing: "postgresql://dovetail:hunter2-secret@127.0.0.1:\(port)/nowhere")
            let clock = ContinuousClock()
            let start = clock.now
            let outcome = await TestSupport.capture { try await copy(source, target, DataCopyOptions(waitTimeout: .seconds(1))) }
            guard case .failure(let error as StoreError) = outcome else {
                Issue.record("expected a StoreError, got \(outcome)")
                return
            }
            #expect(error.kind == .unavailable)
            #expect(error.message.contains("target"))
            #expect(!error.message.contains("hunter2"))
            #expect(start.duration(to: clock.now) < .seconds(15))
        }
    }

    @Test
    func sameDatabaseAndMemoryAreRefused() async throws {
        let file = DatabaseURL.sqlite(.file(path: "/tmp/dovetail-same.db"))
        let same = await TestSupport.capture { try await copy(file, .sqlite(.file(path: "/tmp/../tmp/dovetail-same.db"))) }
        #expect((try? same.get()) == nil)
        if case .failure(let error as DataCopyError) = same { #expect(error.kind == .invalidRequest) } else { Issue.record("\(same)") }
        let memory = await TestSupport.capture { try await copy(.sqlite(.memory), file) }
        if case .failure(let error as DataCopyError) = memory { #expect(error.message.contains(":memory:")) } else { Issue.record("\(memory)") }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/dovetail-same.db"))
    }

    // MARK: Dry run

    @Test
    func dryRunReadsTheSourceAndWritesNothing() async throws {
        try await withSeededSQLite { source in
            let sourceDigest = try Self.fileDigest(source)
            try await TestSupport.withDatabaseURL(.sqliteFile) { target in
                let plan = try await copy(source, target, DataCopyOptions(dryRun: true))
                #expect(plan.operation == .dryRun)
                #expect(plan.tables.first { $0.table == "projects" }?.rows == 2)
                #expect(plan.tables.allSatisfy { $0.copied == 0 })
                if case .sqlite(.file(let path)) = target { #expect(!FileManager.default.fileExists(atPath: path)) }
            }
            try await TestSupport.withDatabaseURL(.postgres) { target in
                try await withDatabase(target) { try await CopyFixtures.createScratchTable($0) }
                let plan = try await copy(source, target, DataCopyOptions(dryRun: true))
                #expect(plan.notes.contains { $0.contains("would be migrated") })
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    let tables = try await scalar(
                        postgres, "SELECT count(*) AS v FROM information_schema.tables WHERE table_schema = current_schema()", as: Int64.self
                    )
                    #expect(tables == 1, "only the scratch table the test made")
                }
                let copied = try await copy(source, target)
                #expect(copied.tables.map(\.sourceChecksum) == plan.tables.map(\.sourceChecksum), "the dry run computes the checksums the copy finds")
                #expect(copied.tables.map(\.rows) == plan.tables.map(\.rows))
            }
            #expect(try Self.fileDigest(source) == sourceDigest)
        }
    }

    // MARK: Verification

    @Test
    func verifyNamesTheFirstDifferingKey() async throws {
        try await withSeededSQLite(scratch: false) { source in
            try await TestSupport.withDatabaseURL(.postgres) { target in
                #expect(try await copy(source, target).verified)
                #expect(try await DataVerifier(from: source, to: target, logger: logger).run().verified)
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    try await postgres.write { sql in try await sql.raw("UPDATE messages SET content = content || '!' WHERE id = 'm-2'").run() }
                }
                let changed = await TestSupport.capture { try await DataVerifier(from: source, to: target, logger: logger).run() }
                guard case .failure(let error as DataCopyError) = changed, let report = error.report else {
                    Issue.record("expected a failed verification, got \(changed)")
                    return
                }
                #expect(error.kind == .verificationFailed)
                #expect(report.mismatches.map(\.table) == ["messages"])
                #expect(report.mismatches.first?.firstDifference == "row id=m-2 differs")
                #expect(error.message.contains("id=m-2"))

                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    try await postgres.write { sql in
                        try await sql.raw("UPDATE messages SET content = '' WHERE id = 'm-2'").run()
                        try await sql.raw("DELETE FROM messages WHERE id = 'm-3'").run()
                    }
                }
                let missing = await TestSupport.capture { try await DataVerifier(from: source, to: target, logger: logger).run() }
                guard case .failure(let error as DataCopyError) = missing else {
                    Issue.record("expected a failed verification, got \(missing)")
                    return
                }
                #expect(error.report?.mismatches.first?.firstDifference == "row id=m-3 is missing from the target")
            }
        }
    }

    // MARK: Resume

    /// A target left holding a prefix of a table (as a killed copy leaves it) is finished by --resume without
    /// duplicating a row; without a flag it is refused.
    @Test
    func resumeFinishesAnInterruptedCopy() async throws {
        try await TestSupport.withDatabaseURL(.sqliteFile) { source in
            try await withDatabase(source) { database in
                try await Migrator(database: database).migrate(logger: logger)
                try await CopyFixtures.seedBulk(database, messages: 3_000, size: 200)
            }
            try await TestSupport.withDatabaseURL(.postgres) { target in
                #expect(try await copy(source, target, DataCopyOptions(batchSize: 250)).verified)
                // What a copy killed in the middle of `messages` leaves: a prefix of its batches.
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    try await postgres.write { sql in try await sql.raw("DELETE FROM messages WHERE id > 'msg-00001249'").run() }
                }
                let refused = await TestSupport.capture { try await copy(source, target) }
                if case .failure(let error as DataCopyError) = refused { #expect(error.kind == .targetNotEmpty) } else { Issue.record("\(refused)") }

                let resumed = try await copy(source, target, DataCopyOptions(batchSize: 250, resume: true))
                #expect(resumed.verified)
                let messages = try #require(resumed.tables.first { $0.table == "messages" })
                #expect(messages.alreadyPresent == 1_250)
                #expect(messages.copied == 1_750)
                #expect(resumed.tables.first { $0.table == "projects" }?.copied == 0)
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    #expect(try await scalar(postgres, "SELECT count(*) AS v FROM messages", as: Int64.self) == 3_000)
                }
            }
        }
    }
}

@Suite("db copy planning")
struct CopyPlanTests {
    @Test
    func foreignKeyOrderPutsParentsFirstAndCyclesLast() {
        let keys: [CopyCatalog.ForeignKey] = [
            .init(table: "agents", referencedTable: "projects"),
            .init(table: "tasks", referencedTable: "agents"),
            .init(table: "tasks", referencedTable: "projects"),
            .init(table: "runs", referencedTable: "runs"),
            .init(table: "a", referencedTable: "b"),
            .init(table: "b", referencedTable: "a"),
        ]
        let order = CopyPlan.foreignKeyOrder(tables: ["tasks", "agents", "projects", "runs", "a", "b"], foreignKeys: keys)
        #expect(order == ["projects", "agents", "runs", "tasks", "a", "b"])
        let catalog = CopyCatalog(tables: [], foreignKeys: keys, derivedTables: [])
        #expect(CopyPlan.cyclicTables(catalog) == ["runs", "a", "b"])
    }

    @Test
    func schemasThatDifferAreRefused() throws {
        func table(_ name: String, _ columns: [(String, CopyColumnType?)]) -> CopyCatalog.Table {
            .init(
                name: name, columns: columns.map { .init(name: $0.0, declaredType: $0.1?.rawValue ?? "tsvector", type: $0.1, nullable: true) },
                generatedColumns: [], primaryKey: ["id"], sequenceColumns: []
            )
        }
        let source = CopyCatalog(tables: [table("t", [("id", .text), ("body", .text)])], foreignKeys: [], derivedTables: [])
        let sameWithSearch = CopyCatalog(tables: [table("t", [("id", .text), ("body", .text), ("search", nil)])], foreignKeys: [], derivedTables: [])
        let plan = try CopyPlan.make(source: source, target: sameWithSearch)
        #expect(plan.tables.first?.columns.map(\.name) == ["id", "body"])
        #expect(plan.derived.contains { $0.contains("t.search") })
        let different = CopyCatalog(tables: [table("t", [("id", .text), ("body", .json)])], foreignKeys: [], derivedTables: [])
        #expect(throws: DataCopyError.self) { try CopyPlan.make(source: source, target: different) }
    }
}

