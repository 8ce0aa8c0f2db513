import SQLKit

extension Database {
    /// Drops search objects (see `SearchObject`) in one transaction, indexes before the columns they cover, so
    /// that rows loaded next pay no per-row full-text work. `createSearchObjects` puts them back.
    public func dropSearchObjects(_ objects: [SearchObject]) async throws {
        try await run(objects.sorted { $0.kind > $1.kind }.map(\.dropStatement))
    }

    /// Creates search objects again exactly as described, in one transaction (columns before the indexes over
    /// them): a rebuild interrupted half-way leaves none of them, never a column without its index.
    public func createSearchObjects(_ objects: [SearchObject]) async throws {
        try await run(objects.sorted { $0.kind < $1.kind }.map(\.createStatement))
    }

    private func run(_ statements: [String]) async throws {
        guard dialect.rebuildsSearchObjectsInBulk, !statements.isEmpty else { return }
        let settings = dialect.searchObjectBuildSettings
        try await write { sql in
            for statement in settings + statements { try await sql.raw(SQLQueryString(statement)).run() }
        }
    }
}
