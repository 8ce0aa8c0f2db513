import SQLKit

/// What `db copy` learns from a live schema: the tables to copy with their columns and keys, the
/// foreign keys between them, and the derived objects it leaves to the target to rebuild.
public struct CopyCatalog: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public var name: String
        /// As the database declares it (`TIMESTAMP_TEXT`, `timestamp with time zone`, `tsvector`).
        public var declaredType: String
        /// Nil for a type outside the logical schema (a PostgreSQL `tsvector`, say).
        public var type: CopyColumnType?
        public var nullable: Bool

        public init(name: String, declaredType: String, type: CopyColumnType?, nullable: Bool) {
            self.name = name
            self.declaredType = declaredType
            self.type = type
            self.nullable = nullable
        }
    }

    public struct Table: Sendable, Equatable {
        public var name: String
        /// Stored, writable columns in table order. Generated columns are not among them: the target computes its own.
        public var columns: [Column]
        /// Generated columns (PostgreSQL `GENERATED ALWAYS AS … STORED`, SQLite `GENERATED ALWAYS AS`), never copied.
        public var generatedColumns: [String]
        /// Primary-key columns in key order; empty for a table without one.
        public var primaryKey: [String]
        /// Integer columns fed by a sequence (PostgreSQL `serial`/identity); SQLite keeps its own counters.
        public var sequenceColumns: [String]

        public init(name: String, columns: [Column], generatedColumns: [String], primaryKey: [String], sequenceColumns: [String]) {
            self.name = name
            self.columns = columns
            self.generatedColumns = generatedColumns
            self.primaryKey = primaryKey
            self.sequenceColumns = sequenceColumns
        }

        public func column(_ name: String) -> Column? { columns.first { $0.name == name } }
    }

    public struct ForeignKey: Sendable, Equatable, Hashable {
        public var table: String
        public var referencedTable: String

        public init(table: String, referencedTable: String) {
            self.table = table
            self.referencedTable = referencedTable
        }
    }

    /// Ordinary tables, by name; `schema_migrations` is left out (the target is migrated instead).
    public var tables: [Table]
    public var foreignKeys: [ForeignKey]
    /// Virtual tables and their shadow tables (SQLite FTS5 indexes): never copied, the target's triggers fill its own.
    public var derivedTables: [String]

    public init(tables: [Table], foreignKeys: [ForeignKey], derivedTables: [String]) {
        self.tables = tables
        self.foreignKeys = foreignKeys
        self.derivedTables = derivedTables
    }

    public func table(_ name: String) -> Table? { tables.first { $0.name == name } }
}

/// One table as it is copied: the columns both sides share, in the source's order, and where the key is.
public struct CopyTable: Sendable, Equatable {
    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: CopyColumnType

        public init(name: String, type: CopyColumnType) {
            self.name = name
            self.type = type
        }
    }

    public let name: String
    public let columns: [Column]
    /// Indexes into `columns` of the primary key, in key order; empty when the table has no primary key.
    public let keyIndexes: [Int]
    /// Rows may reference other rows of the same table (or of a table in a foreign-key cycle), so a batch
    /// may arrive before the rows it points at: such tables are written with foreign-key checks deferred.
    public let defersForeignKeys: Bool
    /// Integer columns whose sequence the target advances past the copied maximum.
    public let sequenceColumns: [String]

    public init(name: String, columns: [Column], keyIndexes: [Int], defersForeignKeys: Bool = false, sequenceColumns: [String] = []) {
        self.name = name
        self.columns = columns
        self.keyIndexes = keyIndexes
        self.defersForeignKeys = defersForeignKeys
        self.sequenceColumns = sequenceColumns
    }

    public var hasPrimaryKey: Bool { !keyIndexes.isEmpty }

    /// The key of row `row` of `batch`, e.g. `id=0190c3…` — for messages that must name a row.
    public func describeKey(of batch: CopyBatch, row: Int) -> String {
        describeKey(batch.row(row))
    }

    public func describeKey(_ values: some Collection<CopyValue>) -> String {
        guard hasPrimaryKey else { return "(no primary key)" }
        let array = Array(values)
        return keyIndexes.map { "\(columns[$0].name)=\(array[$0].displayText)" }.joined(separator: ", ")
    }

    public func describeKeyValues(_ key: [CopyValue]) -> String {
        zip(keyIndexes, key).map { "\(columns[$0.0].name)=\($0.1.displayText)" }.joined(separator: ", ")
    }
}

/// A value that the source database handed over but the target cannot take, or that is not what its
/// column's type promises; names the table, the row (by primary key) and the column.
public struct CopyRowError: Error, Sendable, CustomStringConvertible {
    public let table: String
    public let row: String
    public let column: String?
    public let problem: String

    public init(table: String, row: String, column: String?, problem: String) {
        self.table = table
        self.row = row
        self.column = column
        self.problem = problem
    }

    public var description: String {
        "table \(table), row \(row)\(column.map { ", column \($0)" } ?? ""): \(problem)"
    }
}

extension Dialect {
    /// Double quotes, doubled inside: the identifier quoting both dialects share.
    static func quote(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Reads the tables, columns, keys and foreign keys of the current database (PostgreSQL: the current schema).
    func copyCatalog(_ database: any SQLDatabase) async throws -> CopyCatalog {
        switch self {
        case .sqlite: try await sqliteCopyCatalog(database)
        case .postgres: try await postgresCopyCatalog(database)
        }
    }

    private func sqliteCopyCatalog(_ database: any SQLDatabase) async throws -> CopyCatalog {
        // pragma_table_list (SQLite 3.37+) tells virtual tables and their shadow tables apart from ordinary ones.
        let listed = try await database.raw("SELECT name, type FROM pragma_table_list WHERE schema = 'main' ORDER BY name").all().map {
            (name: try $0.decode(column: "name", as: String.self), type: try $0.decode(column: "type", as: String.self))
        }
        var tables: [CopyCatalog.Table] = []
        var derived: [String] = []
        var foreignKeys: [CopyCatalog.ForeignKey] = []
        for entry in listed where !entry.name.hasPrefix("sqlite_") && entry.name != "schema_migrations" {
            switch entry.type {
            case "table":
                break
            case "virtual", "shadow":
                derived.append(entry.name)
                continue
            default:
                continue
            }
            var columns: [CopyCatalog.Column] = []
            var generated: [String] = []
            var keyed: [(position: Int, name: String)] = []
            // hidden: 0 an ordinary column, 1 hidden (virtual tables), 2 and 3 generated (VIRTUAL, STORED).
            let rows = try await database.raw("""
                SELECT name, type, "notnull" AS not_null, pk, hidden FROM pragma_table_xinfo(\(bind: entry.name)) ORDER BY cid
                """).all()
            for row in rows {
                let name = try row.decode(column: "name", as: String.self)
                let hidden = try row.decode(column: "hidden", as: Int.self)
                if hidden != 0 {
                    generated.append(name)
                    continue
                }
                let declared = try row.decode(column: "type", as: String.self)
                columns.append(.init(
                    name: name,
                    declaredType: declared,
                    type: CopyColumnType(logicalType: Self.logicalType(sqlite: declared)),
                    nullable: try row.decode(column: "not_null", as: Int.self) == 0
                ))
                let position = try row.decode(column: "pk", as: Int.self)
                if position > 0 { keyed.append((position, name)) }
            }
            tables.append(.init(
                name: entry.name,
                columns: columns,
                generatedColumns: generated,
                primaryKey: keyed.sorted { $0.position < $1.position }.map(\.name),
                sequenceColumns: []
            ))
            let references = try await database.raw("SELECT DISTINCT \"table\" AS referenced FROM pragma_foreign_key_list(\(bind: entry.name))").all()
            for reference in references {
                foreignKeys.append(.init(table: entry.name, referencedTable: try reference.decode(column: "referenced", as: String.self)))
            }
        }
        return CopyCatalog(tables: tables, foreignKeys: foreignKeys, derivedTables: derived)
    }

    private func postgresCopyCatalog(_ database: any SQLDatabase) async throws -> CopyCatalog {
        let names = try await database.raw("""
            SELECT table_name AS name FROM information_schema.tables
            WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations'
            ORDER BY table_name
            """).all().map { try $0.decode(column: "name", as: String.self) }
        var tables: [CopyCatalog.Table] = []
        for name in names {
            var columns: [CopyCatalog.Column] = []
            var generated: [String] = []
            var sequences: [String] = []
            let rows = try await database.raw("""
                SELECT column_name AS name, data_type AS type, is_nullable AS nullable, is_generated AS generated,
                       pg_get_serial_sequence(quote_ident(table_name::text), column_name::text) IS NOT NULL AS has_sequence
                FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = \(bind: name) ORDER BY ordinal_position
                """).all()
            for row in rows {
                let column = try row.decode(column: "name", as: String.self)
                if try row.decode(column: "generated", as: String.self) == "ALWAYS" {
                    generated.append(column)
                    continue
                }
                let declared = try row.decode(column: "type", as: String.self)
                columns.append(.init(
                    name: column,
                    declaredType: declared,
                    type: CopyColumnType(logicalType: Self.logicalType(postgres: declared)),
                    nullable: try row.decode(column: "nullable", as: String.self) == "YES"
                ))
                if try row.decode(column: "has_sequence", as: Bool.self) { sequences.append(column) }
            }
            let key = try await database.raw("""
                SELECT a.attname AS name FROM pg_index ix
                JOIN pg_class t ON t.oid = ix.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
                JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                WHERE n.nspname = current_schema() AND t.relname = \(bind: name) AND ix.indisprimary
                ORDER BY k.ord
                """).all().map { try $0.decode(column: "name", as: String.self) }
            tables.append(.init(name: name, columns: columns, generatedColumns: generated, primaryKey: key, sequenceColumns: sequences))
        }
        let foreignKeys = try await database.raw("""
            SELECT DISTINCT t.relname AS table_name, r.relname AS referenced
            FROM pg_constraint c
            JOIN pg_class t ON t.oid = c.conrelid
            JOIN pg_class r ON r.oid = c.confrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE c.contype = 'f' AND n.nspname = current_schema()
            ORDER BY 1, 2
            """).all().map {
            CopyCatalog.ForeignKey(
                table: try $0.decode(column: "table_name", as: String.self),
                referencedTable: try $0.decode(column: "referenced", as: String.self)
            )
        }
        return CopyCatalog(tables: tables, foreignKeys: foreignKeys, derivedTables: [])
    }

    // MARK: Statements

    /// The select list that reads `table`'s copy columns. SQLite text is read as a BLOB so the bytes arrive
    /// exactly as stored (SQLiteNIO would cut text at a NUL character and repair invalid UTF-8 unnoticed).
    func copySelectList(_ table: CopyTable) -> String {
        table.columns.map { column in
            let quoted = Self.quote(column.name)
            switch (self, column.type) {
            case (.sqlite, .text), (.sqlite, .json): return "CAST(\(quoted) AS BLOB)"
            default: return quoted
            }
        }.joined(separator: ", ")
    }

    /// `ORDER BY` for the primary key in byte order: SQLite's default `BINARY` collation already is;
    /// PostgreSQL text is ordered `COLLATE "C"` unless `bytewiseText` says the column already sorts that way.
    func copyKeyOrder(_ table: CopyTable, descending: Bool = false, bytewiseText: Bool) -> String {
        table.keyIndexes.map { index in
            let column = table.columns[index]
            var term = Self.quote(column.name)
            if self == .postgres, column.type == .text || column.type == .json, !bytewiseText { term += " COLLATE \"C\"" }
            return descending ? term + " DESC" : term
        }.joined(separator: ", ")
    }

    /// Keyset pagination on SQLite: the next `limit` rows after `after` (a key of `keyIndexes.count` values),
    /// or after the last rowid for a table without a primary key (the rowid is then the first column read).
    func sqliteScanStatement(_ table: CopyTable, hasAfter: Bool, limit: Int) -> String {
        let from = Self.quote(table.name)
        if !table.hasPrimaryKey {
            let predicate = hasAfter ? " WHERE rowid > ?" : ""
            return "SELECT rowid, \(copySelectList(table)) FROM \(from)\(predicate) ORDER BY rowid LIMIT \(limit)"
        }
        let keys = table.keyIndexes.map { Self.quote(table.columns[$0].name) }
        var predicate = ""
        if hasAfter {
            let placeholders = Array(repeating: "?", count: keys.count).joined(separator: ", ")
            predicate = keys.count == 1 ? " WHERE \(keys[0]) > ?" : " WHERE (\(keys.joined(separator: ", "))) > (\(placeholders))"
        }
        return "SELECT \(copySelectList(table)) FROM \(from)\(predicate) ORDER BY \(copyKeyOrder(table, bytewiseText: true)) LIMIT \(limit)"
    }

    /// The statement a PostgreSQL cursor reads `table` with, in primary-key order when there is one.
    func postgresScanStatement(_ table: CopyTable, bytewiseText: Bool) -> String {
        var statement = "SELECT \(copySelectList(table)) FROM \(Self.quote(table.name))"
        if table.hasPrimaryKey { statement += " ORDER BY \(copyKeyOrder(table, bytewiseText: bytewiseText))" }
        return statement
    }

    /// The greatest key present (in copy order), for `--resume`.
    func lastKeyStatement(_ table: CopyTable, bytewiseText: Bool) -> String {
        let keyTable = CopyTable(name: table.name, columns: table.keyIndexes.map { table.columns[$0] }, keyIndexes: Array(table.keyIndexes.indices))
        return "SELECT \(copySelectList(keyTable)) FROM \(Self.quote(table.name)) ORDER BY "
            + "\(copyKeyOrder(keyTable, descending: true, bytewiseText: bytewiseText)) LIMIT 1"
    }

    /// `INSERT INTO t (…) VALUES (?, …), (?, …)` for `rows` rows: the bulk insert form on SQLite.
    func sqliteInsertStatement(_ table: CopyTable, rows: Int) -> String {
        let columns = table.columns.map { Self.quote($0.name) }.joined(separator: ", ")
        let tuple = "(" + Array(repeating: "?", count: table.columns.count).joined(separator: ", ") + ")"
        return "INSERT INTO \(Self.quote(table.name)) (\(columns)) VALUES " + Array(repeating: tuple, count: rows).joined(separator: ", ")
    }

    /// Empties `tables` (given children first), restarting their counters.
    func truncateStatements(_ tables: [String], hasSequenceTable: Bool) -> [String] {
        switch self {
        case .sqlite:
            var statements = tables.map { "DELETE FROM \(Self.quote($0))" }
            if hasSequenceTable, !tables.isEmpty {
                let names = tables.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" }.joined(separator: ", ")
                statements.append("DELETE FROM sqlite_sequence WHERE name IN (\(names))")
            }
            return statements
        case .postgres:
            guard !tables.isEmpty else { return [] }
            return ["TRUNCATE TABLE \(tables.map(Self.quote).joined(separator: ", ")) RESTART IDENTITY"]
        }
    }

    /// Moves a PostgreSQL sequence past the largest copied value, so the next generated value does not collide.
    func sequenceResetStatement(table: String, column: String) -> String? {
        switch self {
        case .sqlite:
            // SQLite raises an AUTOINCREMENT counter (and rowid allocation) itself whenever a larger key is inserted.
            return nil
        case .postgres:
            let literal = "'" + Self.quote(table).replacingOccurrences(of: "'", with: "''") + "'"
            let columnLiteral = "'" + column.replacingOccurrences(of: "'", with: "''") + "'"
            let quotedColumn = Self.quote(column)
            return """
                SELECT setval(pg_get_serial_sequence(\(literal), \(columnLiteral)), m) AS value
                FROM (SELECT max(\(quotedColumn)) AS m FROM \(Self.quote(table))) AS copied WHERE m IS NOT NULL
                """
        }
    }
}
