@testable import DovetailOps
@testable import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

/// `db copy` into PostgreSQL builds full-text search after loading (see `SearchDeferral`): the result must be the
/// migrated schema exactly, search must work on the copied rows, and an interrupted copy must be finished by `--resume`.
extension DataCopyTests {
    /// A bulk source of `messages` rows whose content all holds the word "lorem".
    func withBulkSQLite<T: Sendable>(messages: Int, _ body: (DatabaseURL) async throws -> T) async throws -> T {
        try await TestSupport.withDatabaseURL(.sqliteFile) { source in
            try await withDatabase(source) { database in
                try await Migrator(database: database).migrate(logger: logger)
                try await CopyFixtures.seedBulk(database, messages: messages, size: 200)
            }
            return try await body(source)
        }
    }

    /// The target's schema after a copy, compared with a freshly migrated one: `db check` clean, and the search
    /// objects (generated columns, GIN indexes) present with the migrations' exact definitions.
    func expectMigratedSchema(_ target: Database, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let migrator = Migrator(database: target)
        let check = try await migrator.check()
        #expect(check.isClean, "db check after the copy: \(check.schemaDifferences)", sourceLocation: sourceLocation)
        let live = try await migrator.liveSearchObjects()
        let expected = try await migrator.expectedSearchObjects()
        #expect(live == expected, sourceLocation: sourceLocation)
        #expect(expected.contains { $0.kind == .index && $0.name == "messages_search_idx" }, sourceLocation: sourceLocation)
        #expect(expected.contains { $0.kind == .generatedColumn && $0.table == "messages" && $0.name == "search_vector" }, sourceLocation: sourceLocation)
    }

    /// After a copy into PostgreSQL the generated search columns and their GIN indexes exist exactly as after
    /// `migrate`, and search finds the copied rows through them.
    @Test
    func copyIntoPostgresLeavesTheMigratedSearchSchema() async throws {
        try await withBulkSQLite(messages: 600) { source in
            try await TestSupport.withDatabaseURL(.postgres) { target in
                let report = try await copy(source, target, DataCopyOptions(batchSize: 100))
                #expect(report.verified)
                #expect(report.notes.contains { $0.contains("full-text search built in bulk after loading") && $0.contains("messages_search_idx") })
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    try await expectMigratedSchema(postgres)
                    #expect(try await scalar(postgres, "SELECT count(*) AS v FROM messages WHERE search_vector IS NOT NULL", as: Int64.self) == 600)
                    let hits = try await SearchRepository(database: postgres).search("lorem", limit: 100)
                    #expect(hits.filter { $0.kind == .message }.count == 100)
                    let sessionHits = try await SearchRepository(database: postgres).search("bulk", limit: 10)
                    #expect(sessionHits.contains { $0.kind == .session && $0.id == "bulk-session" })
                }
            }
        }
    }

    /// What a copy killed while full-text search was deferred leaves — a prefix of `messages`, the search column
    /// and indexes missing — is reported by `db check`, and `--resume` finishes the rows and builds the search.
    @Test
    func resumeBuildsSearchLeftOutByAnInterruptedCopy() async throws {
        try await withBulkSQLite(messages: 1_000) { source in
            try await TestSupport.withDatabaseURL(.postgres) { target in
                #expect(try await copy(source, target, DataCopyOptions(batchSize: 100)).verified)
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    let migrator = Migrator(database: postgres)
                    // The deferral's own drop, then the rows a killed copy had not written yet.
                    try await postgres.dropSearchObjects(try await migrator.expectedSearchObjects())
                    try await postgres.write { sql in try await sql.raw("DELETE FROM messages WHERE id > 'msg-00000399'").run() }
                    let check = try await migrator.check()
                    #expect(!check.isClean)
                    #expect(check.schemaDifferences.contains("full-text search index messages_search_idx on messages is missing"), "\(check.schemaDifferences)")
                    #expect(check.schemaDifferences.contains("full-text search generated column messages.search_vector on messages is missing"))
                }
                let resumed = try await copy(source, target, DataCopyOptions(batchSize: 100, resume: true))
                #expect(resumed.verified)
                #expect(resumed.tables.first { $0.table == "messages" }?.alreadyPresent == 400)
                #expect(resumed.notes.contains { $0.contains("full-text search built in bulk after loading") })
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    try await expectMigratedSchema(postgres)
                    #expect(try await scalar(postgres, "SELECT count(*) AS v FROM messages WHERE search_vector @@ to_tsquery('english', 'lorem')", as: Int64.self) == 1_000)
                    #expect(!(try await SearchRepository(database: postgres).search("lorem")).isEmpty)
                }

                // --truncate after an interruption builds it as well.
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    try await postgres.dropSearchObjects(try await Migrator(database: postgres).expectedSearchObjects())
                }
                #expect(try await copy(source, target, DataCopyOptions(batchSize: 500, truncate: true)).verified)
                try await withDatabase(target) { try await expectMigratedSchema($0) }
            }
        }
    }

    /// A resumed table that kept its search objects (a copy interrupted by an older dovetail, say) is not
    /// rebuilt: the rows still missing are indexed as they arrive, and the schema ends as migrated.
    @Test
    func resumeIntoATableWithItsSearchKeepsIt() async throws {
        try await withBulkSQLite(messages: 500) { source in
            try await TestSupport.withDatabaseURL(.postgres) { target in
                #expect(try await copy(source, target, DataCopyOptions(batchSize: 100)).verified)
                try await withDatabase(target) { (postgres: Database) async throws -> Void in
                    try await postgres.write { sql in try await sql.raw("DELETE FROM messages WHERE id > 'msg-00000199'").run() }
                }
                let resumed = try await copy(source, target, DataCopyOptions(batchSize: 100, resume: true))
                #expect(resumed.verified)
                #expect(!resumed.notes.contains { $0.contains("messages (") }, "\(resumed.notes)")
                try await withDatabase(target) { try await expectMigratedSchema($0) }
            }
        }
    }
}
