import SQLKit

/// The logical shape of a schema, comparable across dialects: tables, columns with a logical
/// type and nullability, and secondary indexes.
public struct SchemaDescription: Sendable, Equatable, CustomStringConvertible {
    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: String
        public var nullable: Bool
    }

    public struct Index: Sendable, Equatable {
        public var name: String
        public var columns: [String]
        public var unique: Bool
    }

    public struct Table: Sendable, Equatable {
        public var name: String
        public var columns: [Column]
        public var indexes: [Index]
    }

    public var tables: [Table]

    public var description: String {
        tables.map { table in
            let columns = table.columns.map { "  \($0.name) \($0.type)\($0.nullable ? "" : " NOT NULL")" }
            let indexes = table.indexes.map { "  \($0.unique ? "UNIQUE " : "")INDEX \($0.name) (\($0.columns.joined(separator: ", ")))" }
            return ([table.name] + columns + indexes).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// One line per difference, empty when the two describe the same schema.
    public func differences(from expected: SchemaDescription) -> [String] {
        var result: [String] = []
        let actualTables = Dictionary(uniqueKeysWithValues: tables.map { ($0.name, $0) })
        let expectedTables = Dictionary(uniqueKeysWithValues: expected.tables.map { ($0.name, $0) })
        for name in expectedTables.keys.sorted() where actualTables[name] == nil {
            result.append("table \(name) is missing")
        }
        for name in actualTables.keys.sorted() where expectedTables[name] == nil {
            result.append("table \(name) is not described by any migration")
        }
        for name in expectedTables.keys.sorted() {
            guard let actual = actualTables[name], let wanted = expectedTables[name] else { continue }
            let actualColumns = Dictionary(uniqueKeysWithValues: actual.columns.map { ($0.name, $0) })
            for column in wanted.columns {
                guard let found = actualColumns[column.name] else {
                    result.append("column \(name).\(column.name) is missing")
                    continue
                }
                if found.type != column.type { result.append("column \(name).\(column.name) is \(found.type), expected \(column.type)") }
                if found.nullable != column.nullable {
                    result.append("column \(name).\(column.name) is \(found.nullable ? "nullable" : "NOT NULL"), expected \(column.nullable ? "nullable" : "NOT NULL")")
                }
            }
            for column in actual.columns where !wanted.columns.contains(where: { $0.name == column.name }) {
                result.append("column \(name).\(column.name) is not described by any migration")
            }
            for index in wanted.indexes where !actual.indexes.contains(index) {
                result.append("index \(index.name) on \(name) is missing or differs")
            }
            for index in actual.indexes where !wanted.indexes.contains(where: { $0.name == index.name }) {
                result.append("index \(index.name) on \(name) is not described by any migration")
            }
        }
        return result
    }
}

extension Dialect {
    /// Reads the live schema of the current database (PostgreSQL: the current schema).
    func describeSchema(_ database: any SQLDatabase) async throws -> SchemaDescription {
        var tables: [SchemaDescription.Table] = []
        for name in try await tableNames(database) {
            tables.append(.init(name: name, columns: try await columns(of: name, database), indexes: try await indexes(of: name, database)))
        }
        return SchemaDescription(tables: tables)
    }

    private func tableNames(_ database: any SQLDatabase) async throws -> [String] {
        let query: SQLQueryString
        switch self {
        case .sqlite:
            // Plain tables only: FTS5 virtual tables and their shadow tables are search indexes, the
            // counterpart of PostgreSQL's generated search columns and their indexes, skipped below too.
            query = "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        case .postgres:
            query = "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name"
        }
        return try await database.raw(query).all().map { try $0.decode(column: "name", as: String.self) }
    }

    private func columns(of table: String, _ database: any SQLDatabase) async throws -> [SchemaDescription.Column] {
        switch self {
        case .sqlite:
            return try await database.raw("SELECT name, type, \"notnull\" AS not_null FROM pragma_table_info(\(bind: table)) ORDER BY cid").all().map {
                SchemaDescription.Column(
                    name: try $0.decode(column: "name", as: String.self),
                    type: Self.logicalType(sqlite: try $0.decode(column: "type", as: String.self)),
                    nullable: try $0.decode(column: "not_null", as: Int.self) == 0
                )
            }
        case .postgres:
            return try await database.raw("""
                SELECT column_name AS name, data_type AS type, is_nullable AS nullable FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = \(bind: table) AND is_generated = 'NEVER' ORDER BY ordinal_position
                """).all().map {
                SchemaDescription.Column(
                    name: try $0.decode(column: "name", as: String.self),
                    type: Self.logicalType(postgres: try $0.decode(column: "type", as: String.self)),
                    nullable: try $0.decode(column: "nullable", as: String.self) == "YES"
                )
            }
        }
    }

    private func indexes(of table: String, _ database: any SQLDatabase) async throws -> [SchemaDescription.Index] {
        switch self {
        case .sqlite:
            var result: [SchemaDescription.Index] = []
            let rows = try await database.raw("SELECT name, \"unique\" AS is_unique, origin FROM pragma_index_list(\(bind: table)) ORDER BY name").all()
            for row in rows where try row.decode(column: "origin", as: String.self) != "pk" {
                let name = try row.decode(column: "name", as: String.self)
                let columns = try await database.raw("SELECT name FROM pragma_index_info(\(bind: name)) ORDER BY seqno").all()
                    .map { try $0.decode(column: "name", as: String.self) }
                result.append(.init(name: name, columns: columns, unique: try row.decode(column: "is_unique", as: Int.self) == 1))
            }
            return result
        case .postgres:
            return try await database.raw("""
                SELECT i.relname AS name, ix.indisunique AS is_unique,
                       array_to_string(ARRAY(
                           SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
                           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord
                       ), ',') AS columns
                FROM pg_index ix
                JOIN pg_class i ON i.oid = ix.indexrelid
                JOIN pg_class t ON t.oid = ix.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = current_schema() AND t.relname = \(bind: table) AND NOT ix.indisprimary AND ix.indexprs IS NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM unnest(ix.indkey) AS k(attnum) JOIN pg_attribute g ON g.attrelid = t.oid AND g.attnum = k.attnum
                      WHERE g.attgenerated <> ''
                  )
                ORDER BY i.relname
                """).all().map {
                SchemaDescription.Index(
                    name: try $0.decode(column: "name", as: String.self),
                    columns: try $0.decode(column: "columns", as: String.self).split(separator: ",").map(String.init),
                    unique: try $0.decode(column: "is_unique", as: Bool.self)
                )
            }
        }
    }

    static func logicalType(sqlite declared: String) -> String {
        switch declared.uppercased() {
        case "TEXT": "text"
        case "JSON_TEXT": "json"
        case "TIMESTAMP_TEXT": "timestamp"
        case "BOOLEAN_INTEGER": "boolean"
        case "BIGINT", "INTEGER": "integer"
        case "DOUBLE", "REAL": "double"
        case "BLOB": "binary"
        default: "unknown(\(declared))"
        }
    }

    static func logicalType(postgres declared: String) -> String {
        switch declared {
        case "text": "text"
        case "jsonb": "json"
        case "timestamp with time zone": "timestamp"
        case "boolean": "boolean"
        case "bigint", "integer": "integer"
        case "double precision": "double"
        case "bytea": "binary"
        default: "unknown(\(declared))"
        }
    }
}
