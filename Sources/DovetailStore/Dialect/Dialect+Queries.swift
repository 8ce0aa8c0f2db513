import SQLKit

/// Query fragments that the two servers spell differently: row claiming, JSON containment and
/// full-text matching.
extension Dialect {
    /// Appended to the sub-select that picks a run to claim. PostgreSQL skips rows another worker
    /// holds; SQLite needs nothing because the whole claim runs under its single writer.
    var claimLockingSuffix: SQLQueryString {
        switch self {
        case .sqlite: ""
        case .postgres: " FOR UPDATE SKIP LOCKED"
        }
    }

    /// `column` contains every top-level key/value of `filter`. Only scalar values are accepted
    /// (see `MetadataFilter`), which both servers compare the same way: strings as text, numbers
    /// numerically, booleans and null by JSON type.
    func jsonContains(column: String, _ filter: MetadataFilter) -> SQLQueryString {
        if filter.pairs.isEmpty { return "1 = 1" }
        switch self {
        case .postgres:
            return "\(ident: column) @> \(bind: JSONDocument(.object(Dictionary(uniqueKeysWithValues: filter.pairs.map { ($0.key, $0.value) }))))"
        case .sqlite:
            let parts: [SQLQueryString] = filter.pairs.map { pair in
                let path = "$.\"\(pair.key)\""
                switch pair.value {
                case .string(let text):
                    return "(json_type(\(ident: column), \(bind: path)) = 'text' AND json_extract(\(ident: column), \(bind: path)) = \(bind: text))"
                case .integer(let number):
                    return "(json_type(\(ident: column), \(bind: path)) IN ('integer', 'real') AND json_extract(\(ident: column), \(bind: path)) = \(bind: number))"
                case .number(let number):
                    return "(json_type(\(ident: column), \(bind: path)) IN ('integer', 'real') AND json_extract(\(ident: column), \(bind: path)) = \(bind: number))"
                case .bool(let flag):
                    return "json_type(\(ident: column), \(bind: path)) = \(bind: flag ? "true" : "false")"
                default:
                    return "json_type(\(ident: column), \(bind: path)) = 'null'"
                }
            }
            return SQLQueryString("(") + parts.dropFirst().reduce(parts[0]) { $0 + " AND " + $1 } + SQLQueryString(")")
        }
    }

    /// A condition true for the `table` row `alias` when its `column` matches every term, with
    /// English stemming on both servers: the generated `search_vector` column and its GIN index on
    /// PostgreSQL (built from `column` by the migration), the `<table>_fts` FTS5 table on SQLite.
    /// Written as a plain condition so that each planner picks its own way in: an index walk in id
    /// order that stops after the first matches when a term is common, the full-text index when it is rare.
    func fullTextCondition(table: String, alias: String, terms: [String]) -> SQLQueryString {
        switch self {
        case .postgres:
            return "\(ident: alias).search_vector @@ to_tsquery('english', \(bind: terms.joined(separator: " & ")))"
        case .sqlite:
            let query = terms.map { "\"\($0)\"" }.joined(separator: " ")
            return "\(ident: alias).rowid IN (SELECT rowid FROM \(ident: table + "_fts") WHERE \(ident: table + "_fts") MATCH \(bind: query))"
        }
    }
}

extension Dialect {
    /// The `FROM` item for the newest full-text matches of `table`, as `alias`.
    ///
    /// SQLite has no statistics to choose between starting from the FTS5 match list (right when a
    /// query matches few rows) and walking the primary key newest-first until enough rows matched
    /// (ten times faster when it matches many: the rows are wide and the list must be sorted); it
    /// always starts from the list. `walkNewestFirst` makes it walk. PostgreSQL chooses by itself.
    func fullTextSource(table: String, alias: String, walkNewestFirst: Bool) -> SQLQueryString {
        switch self {
        case .sqlite where walkNewestFirst:
            // `id TEXT PRIMARY KEY` is the table's first constraint, so SQLite named its index so.
            return "\(ident: table) AS \(ident: alias) INDEXED BY \(ident: "sqlite_autoindex_\(table)_1")"
        default:
            return "\(ident: table) AS \(ident: alias)"
        }
    }

    /// SQLite only: whether walking `table` newest-first finds `wanted` matches sooner than sorting
    /// every match. The walk reads about `wanted × rows ÷ matches` index entries (cheap), the list
    /// costs a row read and a sort per match (measured ~40× dearer), so it pays from
    /// `matches² > wanted × rows ÷ 40`. Counting the matches reads the FTS5 doclists only.
    func prefersNewestFirstWalk(_ sql: any SQLDatabase, table: String, terms: [String], wanted: Int) async throws -> Bool {
        guard case .sqlite = self else { return false }
        let query = terms.map { "\"\($0)\"" }.joined(separator: " ")
        let row = try await sql.raw("""
            SELECT (SELECT count(*) FROM \(ident: table + "_fts") WHERE \(ident: table + "_fts") MATCH \(bind: query)) AS matches,
                   (SELECT coalesce(max(rowid), 0) FROM \(ident: table)) AS total
            """).first()
        guard let row else { return false }
        let matches = try row.decode(column: "matches", as: Int.self)
        let total = try row.decode(column: "total", as: Int.self)
        return matches * matches * 40 > wanted * total
    }
}

/// A `?metadata={"k":"v"}` filter: top-level keys with scalar values, the subset of JSON
/// containment that both backends evaluate identically.
public struct MetadataFilter: Sendable, Equatable {
    public struct Pair: Sendable, Equatable {
        public var key: String
        public var value: JSONValue
    }

    public var pairs: [Pair]

    public init(pairs: [Pair] = []) {
        self.pairs = pairs
    }

    public static func parse(_ text: String?) throws -> MetadataFilter {
        guard let text, !text.isEmpty else { return MetadataFilter() }
        guard case .object(let members) = try? JSONValue(parsing: text) else {
            throw StoreError.invalid("metadata must be a JSON object such as {\"channel\":\"web\"}.", field: "metadata")
        }
        var pairs: [Pair] = []
        for key in members.keys.sorted() {
            guard key.wholeMatch(of: /[A-Za-z0-9_\-]{1,64}/) != nil else {
                throw StoreError.invalid("metadata filter keys must be 1-64 letters, digits, '_' or '-'.", field: "metadata")
            }
            let value = members[key]!
            switch value {
            case .object, .array:
                throw StoreError.invalid("metadata filter values must be strings, numbers, booleans or null.", field: "metadata")
            case .string(let string) where string.unicodeScalars.contains("\u{0000}"):
                // PostgreSQL refuses NUL in text and jsonb (SQLSTATE 22021/22P05); refused on both backends alike.
                throw StoreError.invalid("metadata filter values must not contain NUL characters.", field: "metadata")
            default:
                pairs.append(Pair(key: key, value: value))
            }
        }
        return MetadataFilter(pairs: pairs)
    }
}
