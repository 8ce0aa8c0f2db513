import PostgresKit
import PostgresNIO
import SQLKit
import SQLiteKit
import SQLiteNIO

/// A read the API runs on nearly every request, which PostgreSQL parses and plans once per connection.
///
/// An ordinary statement is parsed and planned by PostgreSQL on every call; for a one-row lookup that is about
/// half of the server's work (pgbench on the card lookup: ≈ 2× the rate with `-M prepared` against
/// `-M extended`, docs/benchmarks.md "api-load"), and the server shares the machine with the API. The text is
/// written once with `$1…$n` placeholders; PostgreSQL prepares it under the type's name the first time a
/// connection runs it, and SQLite runs it as an ordinary statement with `?1…?n`. Both engines run it below SQLKit
/// and decode its rows with `PostgresResultRow` and `SQLiteResultRow`, which skip the per-cell overhead of
/// PostgresKit's and SQLiteKit's row types.
///
/// Only constant texts belong here: a statement whose text varies per call (a batch of `n` rows) would fill
/// every connection with one prepared statement per variant.
protocol FrequentStatement: Sendable {
    /// The statement, with `$1…$n` for its values (and no other `$`): PostgreSQL runs it as it is, SQLite as `?1…?n`.
    static var text: String { get }
    /// The values of `$1…$n`, in order.
    var values: [StatementValue] { get }
}

/// What a frequent statement binds: the few types its lookups take, so that both servers get them encoded as
/// the rest of the store encodes them (text and 64-bit integers).
enum StatementValue: Sendable, Equatable {
    case text(String)
    case integer(Int)
}

/// A frequent statement in PostgresNIO's terms: prepared under its type's name, rows handed back as SQLKit rows so
/// that repositories decode them exactly as they decode every other row.
struct PreparedFrequentStatement<Statement: FrequentStatement>: PostgresPreparedStatement {
    static var name: String { "dovetail.\(Statement.self)" }
    static var sql: String { Statement.text }
    typealias Row = PostgresRow

    let statement: Statement

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: statement.values.count)
        for value in statement.values {
            switch value {
            case .text(let text): bindings.append(text)
            case .integer(let integer): bindings.append(integer)
            }
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}


/// A PostgreSQL row as an SQLKit row, each cell decoded straight through its `PostgresDecodable` conformance.
///
/// PostgresKit's own wrapper does the same after building a coding key (a formatted string) for every cell and
/// checking for Fluent's special cases, which cost ≈ 2% of the server's CPU on the card lookup. Cells those special
/// cases exist for (user-defined types, `numeric`), and types that are only `Decodable`, go through PostgresKit.
struct PostgresResultRow: SQLRow {
    let row: PostgresRow
    private let cells: PostgresRandomAccessRow

    init(_ row: PostgresRow) {
        self.row = row
        self.cells = row.makeRandomAccess()
    }

    var allColumns: [String] { cells.map(\.columnName) }

    func contains(column: String) -> Bool { cells.contains(column) }

    func decodeNil(column: String) throws -> Bool { !cells.contains(column) || cells[column].bytes == nil }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let decodable = D.self as? any PostgresDecodable.Type, cells.contains(column) else {
            return try row.sql().decode(column: column, as: D.self)
        }
        let cell = cells[column]
        guard !cell.dataType.isUserDefined, cell.dataType != .numeric else { return try row.sql().decode(column: column, as: D.self) }
        return try Self.decode(cell, as: decodable) as! D
    }

    private static func decode<T: PostgresDecodable>(_ cell: PostgresCell, as type: T.Type) throws -> T {
        try cell.decode(T.self, context: .default)
    }
}

/// A SQLite row as an SQLKit row, each cell converted straight through `SQLiteDataConvertible`.
///
/// SQLiteKit's own row makes a `SQLiteDataDecoder` — and with it a `JSONDecoder` — for every cell it decodes.
/// Types that are only `Decodable` still go through SQLiteKit.
struct SQLiteResultRow: SQLRow {
    let row: SQLiteRow

    var allColumns: [String] { row.allColumns }

    func contains(column: String) -> Bool { row.contains(column: column) }

    func decodeNil(column: String) throws -> Bool { try row.decodeNil(column: column) }

    func decode<D: Decodable>(column: String, as type: D.Type) throws -> D {
        guard let data = row.column(column) else { return try row.decode(column: column, as: D.self) }
        if let convertible = D.self as? any SQLiteDataConvertible.Type {
            guard let value = convertible.init(sqliteData: data) else { return try row.decode(column: column, as: D.self) }
            return value as! D
        }
        if let optional = D.self as? any OptionalSQLiteValue.Type, let value = optional.converting(data) {
            return value as! D
        }
        return try row.decode(column: column, as: D.self)
    }
}

/// `Optional` of a `SQLiteDataConvertible` type, so `SQLiteResultRow` can convert those directly too.
private protocol OptionalSQLiteValue {
    /// `.some(nil)` for NULL, `.some(value)` when the data converts, nil when it does not.
    static func converting(_ data: SQLiteData) -> Any?
}

extension Optional: OptionalSQLiteValue where Wrapped: SQLiteDataConvertible {
    fileprivate static func converting(_ data: SQLiteData) -> Any? {
        if data == .null { return Wrapped?.none as Any }
        return Wrapped(sqliteData: data).map { Wrapped?.some($0) as Any }
    }
}
