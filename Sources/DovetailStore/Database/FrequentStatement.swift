import PostgresKit
import PostgresNIO
import SQLKit

/// A read the API runs on nearly every request, which PostgreSQL parses and plans once per connection.
///
/// An ordinary statement is parsed and planned by PostgreSQL on every call; for a one-row lookup that is about
/// half of the server's work (pgbench on the card lookup: ≈ 2× the rate with `-M prepared` against
/// `-M extended`, docs/benchmarks.md "api-load"), and the server shares the machine with the API. The text is
/// written once with `$1…$n` placeholders; PostgreSQL prepares it under the type's name the first time a
/// connection runs it, and SQLite runs it as an ordinary statement (its placeholders become SQLKit binds).
///
/// Only constant texts belong here: a statement whose text varies per call (a batch of `n` rows) would fill
/// every connection with one prepared statement per variant.
protocol FrequentStatement: Sendable {
    /// The statement, with `$1…$n` for its values: text both servers run unchanged.
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

extension FrequentStatement {
    /// The statement as SQLKit runs it: each `$n` replaced by a bind of the `n`th value.
    var query: SQLQueryString {
        var query = SQLQueryString("")
        var pending = Substring(Self.text)
        while let dollar = pending.firstIndex(of: "$") {
            let digits = pending[pending.index(after: dollar)...].prefix(while: \.isASCIIDigit)
            guard let number = Int(digits), (1...values.count).contains(number) else {
                preconditionFailure("\(Self.self).text has a placeholder without a value: \(Self.text)")
            }
            query = query + SQLQueryString(String(pending[..<dollar]))
            switch values[number - 1] {
            case .text(let value): query = query + "\(bind: value)"
            case .integer(let value): query = query + "\(bind: value)"
            }
            pending = pending[digits.endIndex...]
        }
        return query + SQLQueryString(String(pending))
    }
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

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
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
