import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

/// The safety net behind `Validation.id` (issue 17, item 3): a NUL that reaches PostgreSQL anyway is
/// refused with SQLSTATE 22021, which is the client's input — `StoreError.invalid`, answered 422 —
/// not a server failure answered 500. SQLite stores NUL, so there the statement simply succeeds.
@Suite("Hostile input reaching the database")
struct HostileInputStoreTests {
    @Test(arguments: TestBackend.allCases)
    func aNulThatReachesTheDatabaseIsInvalidInputNotAServerError(_ backend: TestBackend) async throws {
        try await TestSupport.withStore(backend) { store in
            for statement: SQLQueryString in [
                "SELECT id FROM projects WHERE id = \(bind: "x\u{0}y")",
                "INSERT INTO projects (id, name, slug, description, settings, archived, created_at, updated_at) VALUES (\(bind: "nul\u{0}"), 'n', 's', '', '{}', \(bind: false), \(bind: Timestamp.now()), \(bind: Timestamp.now()))",
            ] {
                do {
                    try await store.database.write { sql in try await sql.raw(statement).run() }
                    #expect(backend != .postgres, "PostgreSQL accepted a NUL in a text parameter")
                } catch let error as StoreError {
                    #expect(error.kind == .invalid, "\(error.kind): \(error.message)")
                }
            }
        }
    }
}
