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

    /// A sub-select of `columns` of the `table` rows whose `column` matches every term, with
    /// English stemming on both servers: the generated `search_vector` column and its GIN index on
    /// PostgreSQL (built from `column` by the migration), the `<table>_fts`
    /// FTS5 table on SQLite. Callers materialise it so the planner starts from the index.
    func fullTextMatches(table: String, column: String, terms: [String], columns: SQLQueryString) -> SQLQueryString {
        switch self {
        case .postgres:
            return "SELECT \(columns) FROM \(ident: table) WHERE search_vector @@ to_tsquery('english', \(bind: terms.joined(separator: " & ")))"
        case .sqlite:
            let query = terms.map { "\"\($0)\"" }.joined(separator: " ")
            return "SELECT \(columns) FROM \(ident: table) WHERE rowid IN (SELECT rowid FROM \(ident: table + "_fts") WHERE \(ident: table + "_fts") MATCH \(bind: query))"
        }
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
            default:
                pairs.append(Pair(key: key, value: value))
            }
        }
        return MetadataFilter(pairs: pairs)
    }
}
