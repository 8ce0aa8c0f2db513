import Foundation
import Logging
import NIOCore
import PostgresNIO
import SQLKit
import SQLiteNIO

/// A read-only view of one consistent snapshot of a database, for `db copy` and `db verify`.
public protocol CopySnapshot: Sendable {
    var dialect: Dialect { get }
    func count(_ table: String) async throws -> Int
    func hasRows(_ table: String) async throws -> Bool
    /// The greatest primary key present, in copy order (numbers numerically, text by bytes); nil when empty.
    func lastKey(_ table: CopyTable) async throws -> [CopyValue]?
    /// Streams every row of `table` in primary-key order, `batchSize` rows at a time. Only one batch is in
    /// memory at once: the next is read after `body` returns.
    func scan(_ table: CopyTable, batchSize: Int, _ body: (CopyBatch) async throws -> Void) async throws
}

/// Writes copied rows into a target database.
public protocol CopyWriter: Sendable {
    var dialect: Dialect { get }
    /// Writes the batches `next` returns until it returns nil, each in a transaction of its own, calling
    /// `committed` with the row count of each batch once it is durable. A table that defers foreign keys goes
    /// to PostgreSQL as one `COPY` over all its batches instead (checked once, at its end), and to SQLite with
    /// foreign-key enforcement off and a `foreign_key_check` at the end.
    func write(
        _ table: CopyTable, batches next: () async throws -> CopyBatch?, committed: (Int) -> Void
    ) async throws
    /// Deletes every row of `tables` (children first) in one transaction and restarts their counters.
    func deleteAll(_ tables: [String]) async throws
    /// Moves sequences past the largest copied value.
    func advanceSequences(_ table: CopyTable) async throws
}

extension Database {
    /// The tables, keys and foreign keys of the live schema, as `db copy` needs them.
    public func copyCatalog() async throws -> CopyCatalog {
        let dialect = self.dialect
        return try await read { sql in try await dialect.copyCatalog(sql) }
    }

    /// Runs `body` with a reader over one consistent snapshot: a read transaction on one SQLite connection,
    /// a `REPEATABLE READ, READ ONLY` transaction on PostgreSQL (without statement timeouts, which a long
    /// copy would otherwise trip).
    public func withCopySnapshot<T: Sendable>(_ body: @escaping @Sendable (any CopySnapshot) async throws -> T) async throws -> T {
        switch engine {
        case let sqlite as SQLiteEngine:
            return try await sqlite.withReadConnection { connection in
                _ = try await connection.query("BEGIN")
                do {
                    let result = try await body(SQLiteCopySnapshot(connection: connection))
                    _ = try await connection.query("COMMIT")
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK")
                    throw error
                }
            }
        case let postgres as PostgresEngine:
            return try await postgres.withConnection { connection in
                let logger = PostgresCopySupport.silentLogger
                try await connection.run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                do {
                    try await connection.run("SET LOCAL statement_timeout = 0")
                    try await connection.run("SET LOCAL idle_in_transaction_session_timeout = 0")
                    let bytewise = try await PostgresCopySupport.textKeysSortBytewise(connection)
                    let result = try await body(PostgresCopySnapshot(connection: connection, bytewiseText: bytewise, logger: logger))
                    try await connection.run("COMMIT")
                    return result
                } catch {
                    try? await connection.run("ROLLBACK")
                    throw error
                }
            }
        default:
            preconditionFailure("unknown database engine")
        }
    }

    /// Runs `body` with a writer that holds the database's one write connection (SQLite) or one leased
    /// connection (PostgreSQL) until it returns.
    public func withCopyWriter<T: Sendable>(_ body: @escaping @Sendable (any CopyWriter) async throws -> T) async throws -> T {
        switch engine {
        case let sqlite as SQLiteEngine:
            return try await sqlite.withWriteConnection { connection in
                try await body(SQLiteCopyWriter(connection: connection))
            }
        case let postgres as PostgresEngine:
            return try await postgres.withConnection { connection in
                let bytewise = try await PostgresCopySupport.textKeysSortBytewise(connection)
                // A table that defers foreign keys is one COPY statement however large: no statement timeout for
                // this session (restored before the connection goes back to the pool).
                try await connection.run("SET statement_timeout = 0")
                do {
                    let result = try await body(PostgresCopyWriter(connection: connection, bytewiseText: bytewise))
                    try await connection.run("RESET statement_timeout")
                    return result
                } catch {
                    try? await connection.run("RESET statement_timeout")
                    throw error
                }
            }
        default:
            preconditionFailure("unknown database engine")
        }
    }
}

// MARK: - SQLite

/// Collects what a SQLite statement hands over row by row. SQLiteNIO calls `onRow` on its thread-pool thread,
/// strictly one row after another and all before the awaited `query` returns, so the state is never touched
/// by two threads at once and is read only after that await.
private final class SQLiteRowCollector: @unchecked Sendable {
    var batch: CopyBatch
    var lastRowid: Int64?
    var failure: CopyRowError?
    var rows = 0

    init(columnCount: Int, capacity: Int) {
        batch = CopyBatch(columnCount: columnCount, capacity: capacity)
    }
}

struct SQLiteCopySnapshot: CopySnapshot {
    let connection: SQLiteConnection
    var dialect: Dialect { .sqlite }

    func count(_ table: String) async throws -> Int {
        let rows = try await connection.query("SELECT count(*) AS n FROM \(Dialect.quote(table))")
        return rows.first?.column("n")?.integer ?? 0
    }

    func hasRows(_ table: String) async throws -> Bool {
        try await !connection.query("SELECT 1 AS found FROM \(Dialect.quote(table)) LIMIT 1").isEmpty
    }

    func lastKey(_ table: CopyTable) async throws -> [CopyValue]? {
        guard table.hasPrimaryKey else { return nil }
        let rows = try await connection.query(Dialect.sqlite.lastKeyStatement(table, bytewiseText: true))
        guard let row = rows.first else { return nil }
        return try zip(table.keyIndexes, row.columns).map { index, column in
            do {
                return try CopyValue(sqlite: column.data, type: table.columns[index].type)
            } catch {
                throw CopyRowError(table: table.name, row: "(last key)", column: table.columns[index].name, problem: describeProblem(error))
            }
        }
    }

    func scan(_ table: CopyTable, batchSize: Int, _ body: (CopyBatch) async throws -> Void) async throws {
        let columnCount = table.columns.count
        let types = table.columns.map(\.type)
        let offset = table.hasPrimaryKey ? 0 : 1
        let firstStatement = Dialect.sqlite.sqliteScanStatement(table, hasAfter: false, limit: batchSize)
        let nextStatement = Dialect.sqlite.sqliteScanStatement(table, hasAfter: true, limit: batchSize)
        var after: [SQLiteData]?
        while true {
            let collector = SQLiteRowCollector(columnCount: columnCount, capacity: batchSize)
            try await connection.query(after == nil ? firstStatement : nextStatement, after ?? []) { row in
                guard collector.failure == nil else { return }
                let data = row.columns
                collector.rows += 1
                if offset == 1, case .integer(let rowid) = data[0].data { collector.lastRowid = Int64(rowid) }
                for column in 0..<columnCount {
                    do {
                        collector.batch.append(try CopyValue(sqlite: data[column + offset].data, type: types[column]))
                    } catch {
                        collector.failure = CopyRowError(
                            table: table.name, row: Self.describeKey(table, data: data), column: table.columns[column].name, problem: describeProblem(error)
                        )
                        return
                    }
                }
            }
            if let failure = collector.failure { throw failure }
            let batch = collector.batch
            if batch.rowCount > 0 { try await body(batch) }
            if collector.rows < batchSize { return }
            if table.hasPrimaryKey {
                let last = batch.row(batch.rowCount - 1)
                after = try table.keyIndexes.map { try Self.bindKey(last[last.startIndex + $0]) }
            } else {
                after = [.integer(SQLiteInt64(collector.lastRowid ?? 0))]
            }
        }
    }

    /// A key value bound for comparison with the column: text as TEXT (a BLOB never compares equal to text).
    static func bindKey(_ value: CopyValue) throws -> SQLiteData {
        switch value {
        case .text(let bytes): return .text(String(buffer: bytes))
        default:
            do {
                return try value.sqliteData()
            } catch {
                throw StoreError(.internalFailure, error.message)
            }
        }
    }

    static func describeKey(_ table: CopyTable, data: [SQLiteColumn]) -> String {
        guard table.hasPrimaryKey else { return "rowid=\(data.first?.data.integer.map(String.init) ?? "?")" }
        return table.keyIndexes.map { index in
            let value = (try? CopyValue(sqlite: data[index].data, type: table.columns[index].type))?.displayText ?? "?"
            return "\(table.columns[index].name)=\(value)"
        }.joined(separator: ", ")
    }
}

struct SQLiteCopyWriter: CopyWriter {
    let connection: SQLiteConnection
    var dialect: Dialect { .sqlite }

    /// Bind parameters per INSERT statement: many rows per statement, well under SQLite's limits.
    static let bindsPerStatement = 8_000

    func write(_ table: CopyTable, batches next: () async throws -> CopyBatch?, committed: (Int) -> Void) async throws {
        if table.defersForeignKeys { _ = try await connection.query("PRAGMA foreign_keys=OFF") }
        do {
            while let batch = try await next() {
                try await insert(batch, into: table)
                committed(batch.rowCount)
            }
            if table.defersForeignKeys {
                _ = try await connection.query("PRAGMA foreign_keys=ON")
                let violations = try await connection.query("SELECT rowid, parent FROM pragma_foreign_key_check(\(Dialect.quote(table.name)))")
                if let first = violations.first {
                    throw CopyRowError(
                        table: table.name, row: "rowid=\(first.column("rowid")?.integer.map(String.init) ?? "?")", column: nil,
                        problem: "references a row of \(first.column("parent")?.string ?? "another table") that does not exist (\(violations.count) such rows)"
                    )
                }
            }
        } catch {
            if table.defersForeignKeys { _ = try? await connection.query("PRAGMA foreign_keys=ON") }
            throw error
        }
    }

    private func insert(_ batch: CopyBatch, into table: CopyTable) async throws {
        let columnCount = table.columns.count
        let rowsPerStatement = max(1, min(batch.rowCount, Self.bindsPerStatement / columnCount))
        let fullStatement = Dialect.sqlite.sqliteInsertStatement(table, rows: rowsPerStatement)
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            var row = 0
            while row < batch.rowCount {
                let count = min(rowsPerStatement, batch.rowCount - row)
                var binds: [SQLiteData] = []
                binds.reserveCapacity(count * columnCount)
                for current in row..<(row + count) {
                    for column in 0..<columnCount {
                        do {
                            binds.append(try batch[current, column].sqliteData())
                        } catch {
                            throw CopyRowError(
                                table: table.name, row: table.describeKey(of: batch, row: current), column: table.columns[column].name,
                                problem: describeProblem(error)
                            )
                        }
                    }
                }
                let statement = count == rowsPerStatement ? fullStatement : Dialect.sqlite.sqliteInsertStatement(table, rows: count)
                do {
                    _ = try await connection.query(statement, binds)
                } catch let error as SQLiteError {
                    throw try await explain(error, rows: row..<(row + count), of: batch, table: table)
                }
                row += count
            }
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }

    /// A multi-row INSERT failed: find the row by inserting them one at a time (the failed statement was
    /// undone, the transaction is still open and is rolled back by the caller).
    private func explain(_ error: SQLiteError, rows: Range<Int>, of batch: CopyBatch, table: CopyTable) async throws -> any Error {
        let single = Dialect.sqlite.sqliteInsertStatement(table, rows: 1)
        for row in rows {
            let binds = try (0..<table.columns.count).map { try batch[row, $0].sqliteData() }
            do {
                _ = try await connection.query(single, binds)
            } catch let rowError as SQLiteError {
                return CopyRowError(table: table.name, row: table.describeKey(of: batch, row: row), column: nil, problem: "SQLite refused the row: \(rowError.message)")
            }
        }
        return SQLiteEngine.translate(error)
    }

    func deleteAll(_ tables: [String]) async throws {
        let hasSequences = try await !connection.query("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").isEmpty
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            for statement in Dialect.sqlite.truncateStatements(tables, hasSequenceTable: hasSequences) {
                _ = try await connection.query(statement)
            }
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }

    func advanceSequences(_ table: CopyTable) async throws {}
}

// MARK: - PostgreSQL

enum PostgresCopySupport {
    static let silentLogger = Logger(label: "dovetail.copy", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Whether text already sorts by bytes here (a database with the C or POSIX collation from libc), so
    /// key order needs no `COLLATE "C"` and the primary-key index serves it.
    static func textKeysSortBytewise(_ connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.query(
            "SELECT datcollate::text AS collation_name, to_jsonb(d) ->> 'datlocprovider' AS provider FROM pg_database d WHERE datname = current_database()",
            logger: silentLogger
        )
        for try await row in rows {
            let (collate, provider) = try row.decode((String, String?).self)
            return (provider == nil || provider == "c") && (collate == "C" || collate == "POSIX")
        }
        return false
    }
}

extension PostgresConnection {
    /// Runs a statement and drains its result.
    func run(_ sql: String) async throws {
        let rows = try await query(PostgresQuery(unsafeSQL: sql), logger: PostgresCopySupport.silentLogger)
        for try await _ in rows {}
    }
}

struct PostgresCopySnapshot: CopySnapshot {
    let connection: PostgresConnection
    let bytewiseText: Bool
    let logger: Logger
    var dialect: Dialect { .postgres }

    func count(_ table: String) async throws -> Int {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT count(*) AS n FROM \(Dialect.quote(table))"), logger: logger)
        for try await row in rows { return Int(try row.decode(Int64.self)) }
        return 0
    }

    func hasRows(_ table: String) async throws -> Bool {
        let rows = try await connection.query(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(Dialect.quote(table)) LIMIT 1"), logger: logger)
        var found = false
        for try await _ in rows { found = true }
        return found
    }

    func lastKey(_ table: CopyTable) async throws -> [CopyValue]? {
        guard table.hasPrimaryKey else { return nil }
        let sql = Dialect.postgres.lastKeyStatement(table, bytewiseText: bytewiseText)
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        var key: [CopyValue]?
        for try await row in rows {
            key = try row.map { cell in
                do {
                    return try CopyValue(postgres: cell)
                } catch {
                    throw CopyRowError(table: table.name, row: "(last key)", column: cell.columnName, problem: describeProblem(error))
                }
            }
        }
        return key
    }

    func scan(_ table: CopyTable, batchSize: Int, _ body: (CopyBatch) async throws -> Void) async throws {
        // A cursor inside the snapshot's transaction: each FETCH is a statement of its own, so memory holds one
        // batch, and the rows come in key order from one consistent snapshot.
        let cursor = "dovetail_copy_cursor"
        try await connection.run("DECLARE \(cursor) NO SCROLL CURSOR FOR \(Dialect.postgres.postgresScanStatement(table, bytewiseText: bytewiseText))")
        let columnCount = table.columns.count
        while true {
            var batch = CopyBatch(columnCount: columnCount, capacity: batchSize)
            var fetched = 0
            let rows = try await connection.query(PostgresQuery(unsafeSQL: "FETCH FORWARD \(batchSize) FROM \(cursor)"), logger: logger)
            for try await row in rows {
                fetched += 1
                for cell in row {
                    do {
                        batch.append(try CopyValue(postgres: cell))
                    } catch {
                        throw CopyRowError(table: table.name, row: Self.describeKey(table, row: row), column: cell.columnName, problem: describeProblem(error))
                    }
                }
            }
            if fetched > 0 { try await body(batch) }
            if fetched < batchSize { break }
        }
        try await connection.run("CLOSE \(cursor)")
    }

    static func describeKey(_ table: CopyTable, row: PostgresRow) -> String {
        guard table.hasPrimaryKey else { return "(no primary key)" }
        let cells = row.makeRandomAccess()
        return table.keyIndexes.map { index in
            let value = (try? CopyValue(postgres: cells[index]))?.displayText ?? "?"
            return "\(table.columns[index].name)=\(value)"
        }.joined(separator: ", ")
    }
}

struct PostgresCopyWriter: CopyWriter {
    let connection: PostgresConnection
    let bytewiseText: Bool
    var dialect: Dialect { .postgres }

    /// Bytes handed to the connection at a time while streaming COPY data.
    static let chunkSize = 256 * 1024

    func write(_ table: CopyTable, batches next: () async throws -> CopyBatch?, committed: (Int) -> Void) async throws {
        if table.defersForeignKeys {
            // One COPY statement: PostgreSQL checks foreign keys at its end, when every row of the table is in.
            var rows = 0
            try await copy(table) { send in
                while let batch = try await next() {
                    try await send(batch)
                    rows += batch.rowCount
                }
            }
            committed(rows)
            return
        }
        while let batch = try await next() {
            try await copy(table) { send in try await send(batch) }
            committed(batch.rowCount)
        }
    }

    /// One `COPY … FROM STDIN` statement (its own transaction) fed by `produce`. A row PostgreSQL refuses is
    /// named by the line number it reports, mapped back to the batch it was sent in.
    private func copy(_ table: CopyTable, _ produce: ((CopyBatch) async throws -> Void) async throws -> Void) async throws {
        // PostgreSQL may report a bad row while a later batch is being sent: keep the last two.
        var recent: [(start: Int, batch: CopyBatch)] = []
        var sentRows = 0
        do {
            try await connection.copyFrom(table: table.name, columns: table.columns.map(\.name), logger: PostgresCopySupport.silentLogger) { writer in
                try await produce { batch in
                    recent.append((sentRows, batch))
                    if recent.count > 2 { recent.removeFirst() }
                    var buffer = ByteBuffer()
                    buffer.reserveCapacity(Self.chunkSize + 64 * 1024)
                    for row in 0..<batch.rowCount {
                        for column in 0..<batch.columnCount {
                            if column > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
                            do {
                                try batch[row, column].appendCopyText(to: &buffer)
                            } catch {
                                throw CopyRowError(
                                    table: table.name, row: table.describeKey(of: batch, row: row), column: table.columns[column].name,
                                    problem: describeProblem(error)
                                )
                            }
                        }
                        buffer.writeInteger(UInt8(ascii: "\n"))
                        if buffer.readableBytes >= Self.chunkSize {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    if buffer.readableBytes > 0 { try await writer.write(buffer) }
                    sentRows += batch.rowCount
                }
            }
        } catch let error as PSQLError {
            throw Self.explain(error, table: table, recent: recent)
        }
    }

    /// PostgreSQL's CONTEXT reads `COPY messages, line 17, column content: "…"`: the line (1-based over the whole
    /// statement) and column name the row; the quoted data is left out, as are details that echo values.
    static func explain(_ error: PSQLError, table: CopyTable, recent: [(start: Int, batch: CopyBatch)]) -> any Error {
        guard error.code == .server, let serverInfo = error.serverInfo else { return error }
        let context = serverInfo[.locationContext] ?? ""
        let state = serverInfo[.sqlState] ?? ""
        let message = serverInfo[.message] ?? "no message"
        var row = "(unknown row)"
        if let line = Self.number(after: "line ", in: context) {
            for (start, batch) in recent where line - 1 >= start && line - 1 < start + batch.rowCount {
                row = table.describeKey(of: batch, row: line - 1 - start)
            }
        }
        var column: String?
        if let range = context.range(of: ", column ") {
            column = String(context[range.upperBound...].prefix { $0 != ":" })
        }
        if state == "23505" || state == "23503" || state == "23514" || state == "23502" || state.hasPrefix("22") {
            return CopyRowError(table: table.name, row: row, column: column, problem: "PostgreSQL refused the value (SQLSTATE \(state)): \(message)")
        }
        return error
    }

    private static func number(after marker: String, in text: String) -> Int? {
        guard let range = text.range(of: marker) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    func deleteAll(_ tables: [String]) async throws {
        for statement in Dialect.postgres.truncateStatements(tables, hasSequenceTable: false) {
            try await connection.run(statement)
        }
    }

    func advanceSequences(_ table: CopyTable) async throws {
        for column in table.sequenceColumns {
            if let statement = Dialect.postgres.sequenceResetStatement(table: table.name, column: column) {
                try await connection.run(statement)
            }
        }
    }
}
