import DovetailStore
import Logging

/// Full-text indexing put off while `db copy` loads a PostgreSQL target, and built in bulk afterwards.
///
/// A row copied into `messages` would otherwise pay `to_tsvector` for its stored generated `search_vector` and
/// an insertion into the GIN index over it; building the index once over the loaded table is far cheaper
/// (see docs/benchmarks.md, "db-copy"). So, for each table loaded from empty, its search objects are dropped
/// before the load and created again — with the very definitions the migrations give — once its rows are in.
///
/// The state needs no bookkeeping of its own: the live schema is it. A copy killed in between leaves the
/// objects missing, which `db check` reports (see `SearchObject`); `db copy --resume` and `--truncate` compare
/// the live objects with the migrations' and create whatever is missing, so the next copy restores them.
struct SearchDeferral: Sendable {
    /// What is deferred: the GIN indexes, and the generated columns too when measured to pay.
    static let deferredKinds: Set<SearchObject.Kind> = [.index]

    /// Objects to create once each table is loaded, columns before indexes.
    private(set) var pending: [String: [SearchObject]] = [:]

    /// Why nothing could be deferred, for the report.
    private(set) var unavailable: String?

    var isEmpty: Bool { pending.isEmpty }

    /// Nothing deferred (SQLite targets keep their FTS5 triggers).
    init() {}

    /// Compares the target's search objects with the ones `migrations` define, drops those of the tables in
    /// `loadedFromEmpty` and remembers them, with any already missing (an interrupted copy's), for `restore`.
    static func prepare(target: Database, migrations: [Migration], loadedFromEmpty: Set<String>) async throws -> SearchDeferral {
        var deferral = SearchDeferral()
        guard target.dialect.rebuildsSearchObjectsInBulk else { return deferral }
        let migrator = Migrator(database: target, migrations: migrations)
        let expected: [SearchObject]
        do {
            // Runs the migrations in a scratch schema, rolled back: that needs the CREATE privilege on the database.
            expected = try await migrator.expectedSearchObjects()
        } catch {
            deferral.unavailable = "full-text search maintained row by row: its definitions could not be read (\(error))"
            return deferral
        }
        let live = try await migrator.liveSearchObjects()
        var toDrop: [SearchObject] = []
        for object in expected {
            if !live.contains(where: { $0.isSameObject(as: object) }) {
                deferral.pending[object.table, default: []].append(object)
            } else if live.contains(object), deferredKinds.contains(object.kind), loadedFromEmpty.contains(object.table) {
                toDrop.append(object)
                deferral.pending[object.table, default: []].append(object)
            }
        }
        // A column is only dropped with the indexes over it: an index left on a dropped column would go with it.
        try await target.dropSearchObjects(toDrop)
        for table in deferral.pending.keys { deferral.pending[table]?.sort { $0.kind < $1.kind } }
        return deferral
    }

    func objects(of table: String) -> [SearchObject] { pending[table] ?? [] }

    /// For the report: which objects were built after loading.
    var note: String? {
        if let unavailable { return unavailable }
        guard !pending.isEmpty else { return nil }
        let tables = pending.keys.sorted().map { table in "\(table) (\(pending[table, default: []].map(\.name).joined(separator: ", ")))" }
        return "full-text search built in bulk after loading: " + tables.joined(separator: "; ")
    }
}
