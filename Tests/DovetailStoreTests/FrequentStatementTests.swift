@testable import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

@Suite("Frequent statements (prepared once per connection on PostgreSQL)")
struct FrequentStatementTests {
    /// Placeholders out of order and used twice: each `$n` must take the `n`th value on both servers.
    struct Reordered: FrequentStatement {
        static let text = "SELECT $2 AS second, $1 AS first, $1 AS again, $3 + 1 AS number"
        var values: [StatementValue] { [.text("it's 'quoted'; DROP TABLE tasks; --"), .text("ünï 🎉 $1"), .integer(41)] }
    }

    @Test(arguments: TestBackend.allCases)
    func placeholdersTakeTheirOwnValues(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let row = try #require(try await store.database.fetch(Reordered()).first)
            #expect(try row.decode(column: "first", as: String.self) == "it's 'quoted'; DROP TABLE tasks; --")
            #expect(try row.decode(column: "again", as: String.self) == "it's 'quoted'; DROP TABLE tasks; --")
            #expect(try row.decode(column: "second", as: String.self) == "ünï 🎉 $1")
            #expect(try row.decode(column: "number", as: Int.self) == 42)
        }
    }

    struct Optionals: FrequentStatement {
        static let text = "SELECT CAST(NULL AS TEXT) AS absent, $1 AS present, $2 AS number"
        var values: [StatementValue] { [.text("here"), .integer(-7)] }
    }

    /// Rows of frequent statements decode NULL, optional and plain values as SQLKit's rows do.
    @Test(arguments: TestBackend.allCases)
    func rowsDecodeNullsAndOptionals(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            let row = try #require(try await store.database.fetch(Optionals()).first)
            #expect(try row.decode(column: "absent", as: String?.self) == nil)
            #expect(try row.decodeNil(column: "absent"))
            #expect(try row.decode(column: "present", as: String?.self) == "here")
            #expect(try row.decode(column: "number", as: Int.self) == -7)
            #expect(try row.decode(column: "number", as: Int?.self) == -7)
            #expect(throws: (any Error).self) { try row.decode(column: "absent", as: String.self) }
            #expect(throws: (any Error).self) { try row.decode(column: "missing", as: String.self) }
            #expect(Set(row.allColumns) == ["absent", "present", "number"])
        }
    }

    /// The card lookup really is a prepared statement on PostgreSQL (the point of the type), and keeps working
    /// when another process migrates the table under the prepared plan.
    @Test
    func cardLookupIsPreparedAndSurvivesASchemaChange() async throws {
        var pool = PoolSettings()
        pool.size = 1
        pool.maxOverflow = 0
        try await TestSupport.withStore(.postgres, pool: pool) { store in
            let project = try await store.projects.create(NewProject(name: "Prepared"))
            let card = try await store.tasks.create(NewTask(projectId: project.id, title: "first"))
            #expect(try await store.tasks.get(card.id) == card)
            let prepared = try await store.database.read { sql in
                try await sql.raw("SELECT name FROM pg_prepared_statements").all().map { try $0.decode(column: "name", as: String.self) }
            }
            #expect(prepared.contains("DovetailStore.TaskRepository.CardById"), "prepared on this connection: \(prepared)")

            try await store.database.write { sql in try await sql.raw("ALTER TABLE tasks ADD COLUMN added_later text").run() }
            #expect(try await store.tasks.get(card.id) == card)
            await #expect(throws: StoreError.self) { try await store.tasks.get("no 'such' card") }
        }
    }

    /// With `POSTGRES_PREPARED_STATEMENTS=false` (a pooler in transaction mode) the same reads run unnamed and
    /// leave nothing prepared on the connection.
    @Test
    func preparedStatementsCanBeSwitchedOff() async throws {
        var pool = PoolSettings()
        pool.size = 1
        pool.maxOverflow = 0
        pool.preparedStatements = false
        try await TestSupport.withStore(.postgres, pool: pool) { store in
            let project = try await store.projects.create(NewProject(name: "Unprepared"))
            let card = try await store.tasks.create(NewTask(projectId: project.id, title: "it's \"quoted\" 🎉"))
            #expect(try await store.tasks.get(card.id) == card)
            #expect(try await store.tasks.list(projectId: project.id, column: card.column).items == [card])
            let row = try #require(try await store.database.fetch(Reordered()).first)
            #expect(try row.decode(column: "second", as: String.self) == "ünï 🎉 $1")
            let prepared = try await store.database.read { sql in
                try await sql.raw("SELECT count(*) AS n FROM pg_prepared_statements").first()?.decode(column: "n", as: Int.self)
            }
            #expect(prepared == 0)
        }
    }
}
