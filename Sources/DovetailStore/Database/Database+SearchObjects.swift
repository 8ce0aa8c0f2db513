import SQLKit

extension Database {
    /// Memory PostgreSQL may use to build a GIN index in bulk. Its default (64 MB) makes the build of a large
    /// index flush and merge many times; the setting lasts for the rebuilding transaction only.
    static let searchIndexBuildMemory = "256MB"

    /// Drops PostgreSQL search objects (see `SearchObject`) in one transaction, indexes before the columns they
    /// cover, so that rows loaded next pay no per-row full-text work. `createSearchObjects` puts them back.
    public func dropSearchObjects(_ objects: [SearchObject]) async throws {
        guard dialect == .postgres, !objects.isEmpty else { return }
        let ordered = objects.sorted { $0.kind > $1.kind }
        try await write { sql in
            try await sql.raw("SET LOCAL statement_timeout = 0").run()
            for object in ordered { try await sql.raw(SQLQueryString(object.dropStatement)).run() }
        }
    }

    /// Creates PostgreSQL search objects again exactly as described, in one transaction (columns before the
    /// indexes over them): a rebuild interrupted half-way leaves none of them, never a column without its index.
    /// Without a statement timeout, as building over a large table may take minutes.
    public func createSearchObjects(_ objects: [SearchObject]) async throws {
        guard dialect == .postgres, !objects.isEmpty else { return }
        let ordered = objects.sorted { $0.kind < $1.kind }
        let memory = Self.searchIndexBuildMemory
        try await write { sql in
            try await sql.raw("SET LOCAL statement_timeout = 0").run()
            try await sql.raw(SQLQueryString("SET LOCAL maintenance_work_mem = '\(memory)'")).run()
            for object in ordered { try await sql.raw(SQLQueryString(object.createStatement)).run() }
        }
    }
}
