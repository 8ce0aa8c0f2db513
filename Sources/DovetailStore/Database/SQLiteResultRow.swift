import SQLKit
import SQLiteKit
import SQLiteNIO

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
