import SQLKit

/// One object a dialect derives for full-text search: on PostgreSQL a stored generated `tsvector` column or an
/// index over such a column (or over an expression); on SQLite an FTS5 virtual table or a trigger that fills one.
///
/// They are not part of `SchemaDescription`, which both dialects must share, yet `db check` compares them with
/// the migrations as well: a search column or index that is missing — dropped by hand, or left out by a
/// `db copy` interrupted while it deferred full-text indexing — must be reported, never passed as fine.
public struct SearchObject: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Comparable {
        case generatedColumn = "generated column"
        case index
        case virtualTable = "virtual table"
        case trigger

        /// Columns before the indexes built over them.
        var rank: Int {
            switch self {
            case .virtualTable: 0
            case .generatedColumn: 1
            case .index: 2
            case .trigger: 3
            }
        }

        public static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.rank < rhs.rank }
    }

    public var kind: Kind
    public var table: String
    public var name: String
    /// The definition as the database prints it back (`tsvector GENERATED ALWAYS AS (…) STORED`, the
    /// `CREATE INDEX` text without schema qualification, SQLite's stored `CREATE` text), so two databases
    /// built by the same migrations describe each object by the same string.
    public var definition: String

    public init(kind: Kind, table: String, name: String, definition: String) {
        self.kind = kind
        self.table = table
        self.name = name
        self.definition = definition
    }

    public var description: String { "\(kind.rawValue) \(kind == .generatedColumn ? "\(table).\(name)" : name)" }

    /// The same object (kind, table and name), whatever its definition.
    public func isSameObject(as other: SearchObject) -> Bool {
        kind == other.kind && table == other.table && name == other.name
    }

    /// The statement that creates the object again exactly as described (PostgreSQL columns and indexes only).
    public var createStatement: String {
        switch kind {
        case .generatedColumn: "ALTER TABLE \(Dialect.quote(table)) ADD COLUMN \(Dialect.quote(name)) \(definition)"
        case .index, .virtualTable, .trigger: definition
        }
    }

    /// The statement that drops it (PostgreSQL columns and indexes only).
    public var dropStatement: String {
        switch kind {
        case .generatedColumn: "ALTER TABLE \(Dialect.quote(table)) DROP COLUMN \(Dialect.quote(name))"
        case .index: "DROP INDEX \(Dialect.quote(name))"
        case .virtualTable: "DROP TABLE \(Dialect.quote(name))"
        case .trigger: "DROP TRIGGER \(Dialect.quote(name))"
        }
    }

    /// Lines for `db check`: objects the migrations define that are missing or differ, and objects no migration defines.
    public static func differences(live: [SearchObject], expected: [SearchObject]) -> [String] {
        var result: [String] = []
        for object in expected {
            guard let found = live.first(where: { $0.isSameObject(as: object) }) else {
                result.append("full-text search \(object) on \(object.table) is missing")
                continue
            }
            if found.definition != object.definition {
                result.append("full-text search \(object) on \(object.table) is \(found.definition), expected \(object.definition)")
            }
        }
        for object in live where !expected.contains(where: { $0.isSameObject(as: object) }) {
            result.append("full-text search \(object) on \(object.table) is not described by any migration")
        }
        return result
    }
}

extension Dialect {
    /// Whether search objects can be dropped and built again in bulk by `db copy` (PostgreSQL's generated columns
    /// and GIN indexes); SQLite's FTS5 tables are filled by triggers and kept as they are.
    public var rebuildsSearchObjectsInBulk: Bool {
        switch self {
        case .sqlite: false
        case .postgres: true
        }
    }

    /// Session settings, local to the transaction, for dropping and building search objects: no statement
    /// timeout, as building over a large table may take minutes, and memory enough to build a GIN index in one
    /// go (the default 64 MB makes a large build flush and merge many times).
    var searchObjectBuildSettings: [String] {
        switch self {
        case .sqlite: []
        case .postgres: ["SET LOCAL statement_timeout = 0", "SET LOCAL maintenance_work_mem = '256MB'"]
        }
    }

    /// Reads the live search objects of the current database (PostgreSQL: the current schema), in creation order
    /// (columns before the indexes over them), then by table and name.
    func describeSearchObjects(_ database: any SQLDatabase) async throws -> [SearchObject] {
        let query: SQLQueryString
        switch self {
        case .sqlite:
            query = """
                SELECT CASE type WHEN 'trigger' THEN 'trigger' ELSE 'virtual table' END AS kind, tbl_name AS table_name, name, sql AS definition
                FROM sqlite_master WHERE type = 'trigger' OR (type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%')
                """
        case .postgres:
            // pg_get_indexdef qualifies the table with its schema; that part is cut so that the scratch schema of
            // `expectedSchema` and the live one print the same text.
            query = """
                SELECT 'generated column' AS kind, c.relname AS table_name, a.attname AS name,
                       format_type(a.atttypid, a.atttypmod) || ' GENERATED ALWAYS AS (' || pg_get_expr(d.adbin, d.adrelid) || ') STORED' AS definition
                FROM pg_attribute a
                JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attgenerated = 's' AND NOT a.attisdropped
                UNION ALL
                SELECT 'index', t.relname, i.relname, replace(pg_get_indexdef(ix.indexrelid), ' ON ' || quote_ident(n.nspname) || '.', ' ON ')
                FROM pg_index ix
                JOIN pg_class i ON i.oid = ix.indexrelid
                JOIN pg_class t ON t.oid = ix.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = current_schema() AND NOT ix.indisprimary
                  AND (ix.indexprs IS NOT NULL OR EXISTS (
                      SELECT 1 FROM unnest(ix.indkey) AS k(attnum) JOIN pg_attribute g ON g.attrelid = t.oid AND g.attnum = k.attnum
                      WHERE g.attgenerated <> ''
                  ))
                """
        }
        let objects = try await database.raw(query).all().map { row in
            SearchObject(
                kind: SearchObject.Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .index,
                table: try row.decode(column: "table_name", as: String.self),
                name: try row.decode(column: "name", as: String.self),
                definition: try row.decode(column: "definition", as: String.self)
            )
        }
        return objects.sorted { ($0.kind, $0.table, $0.name) < ($1.kind, $1.table, $1.name) }
    }
}
