import NIOCore

/// The logical column types of the schema (see `SchemaDescription`), as `db copy` moves them.
public enum CopyColumnType: String, Sendable, CaseIterable, Codable {
    case text
    case json
    case timestamp
    case boolean
    case integer
    case double
    case binary

    /// The logical type named by `SchemaDescription` (`text`, `json`, …); nil for `unknown(…)`.
    public init?(logicalType: String) {
        self.init(rawValue: logicalType)
    }
}

/// One column value in its logical form, the same whichever database it was read from.
///
/// Text, JSON and binary values keep the bytes the driver handed over (a slice of the row's buffer on
/// PostgreSQL), so copying a row never decodes its text into `String`s.
public enum CopyValue: Sendable {
    case null
    case integer(Int64)
    case double(Double)
    case boolean(Bool)
    /// Milliseconds since 1970-01-01T00:00:00Z.
    case timestamp(Int64)
    /// UTF-8, validated when read.
    case text(ByteBuffer)
    /// JSON text as the database printed it (PostgreSQL's `jsonb` spacing, or the text stored in SQLite).
    case json(ByteBuffer)
    case binary(ByteBuffer)

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// Rows of one table, stored flat: `columnCount` values per row, in the table's copy column order.
public struct CopyBatch: Sendable {
    public let columnCount: Int
    public private(set) var values: [CopyValue]

    public init(columnCount: Int, capacity: Int = 0) {
        precondition(columnCount > 0, "a copied table has at least one column")
        self.columnCount = columnCount
        self.values = []
        values.reserveCapacity(capacity * columnCount)
    }

    public var rowCount: Int { values.count / columnCount }
    public var isEmpty: Bool { values.isEmpty }

    public subscript(row: Int, column: Int) -> CopyValue {
        values[row * columnCount + column]
    }

    /// The values of row `row`.
    public func row(_ row: Int) -> ArraySlice<CopyValue> {
        values[row * columnCount..<(row + 1) * columnCount]
    }

    public mutating func append(_ value: CopyValue) {
        values.append(value)
    }

    public mutating func append<Row: Collection>(row: Row) where Row.Element == CopyValue {
        precondition(row.count == columnCount)
        values.append(contentsOf: row)
    }
}

// MARK: - Canonical encoding, for checksums

extension CopyValue {
    /// Appends an unambiguous encoding of the value in which everything the two databases may spell
    /// differently is normalised: timestamps as epoch milliseconds, booleans as 0/1, JSON with sorted and
    /// de-duplicated keys, normalised numbers and no insignificant whitespace (`CanonicalJSON`), doubles by
    /// their bits with every NaN alike and -0 as 0 (SQLite stores -0.0 as 0). Two values that each database
    /// would report as equal encode identically; any other difference changes the bytes.
    public func appendCanonical(to output: inout [UInt8]) throws {
        switch self {
        case .null:
            output.append(0)
        case .integer(let value):
            output.append(1)
            Self.appendBigEndian(UInt64(bitPattern: value), to: &output)
        case .double(let value):
            output.append(2)
            let bits: UInt64
            if value.isNaN {
                bits = 0x7FF8_0000_0000_0000
            } else if value == 0 {
                bits = 0
            } else {
                bits = value.bitPattern
            }
            Self.appendBigEndian(bits, to: &output)
        case .boolean(let value):
            output.append(3)
            output.append(value ? 1 : 0)
        case .timestamp(let millis):
            output.append(4)
            Self.appendBigEndian(UInt64(bitPattern: millis), to: &output)
        case .text(let bytes):
            output.append(5)
            Self.appendLengthPrefixed(bytes, to: &output)
        case .json(let bytes):
            output.append(6)
            let lengthAt = output.count
            output.append(contentsOf: [0, 0, 0, 0])
            try bytes.withUnsafeReadableBytes { raw in
                try CanonicalJSON.append(raw, to: &output)
            }
            let length = UInt32(truncatingIfNeeded: output.count - lengthAt - 4)
            output[lengthAt] = UInt8(truncatingIfNeeded: length >> 24)
            output[lengthAt + 1] = UInt8(truncatingIfNeeded: length >> 16)
            output[lengthAt + 2] = UInt8(truncatingIfNeeded: length >> 8)
            output[lengthAt + 3] = UInt8(truncatingIfNeeded: length)
        case .binary(let bytes):
            output.append(7)
            Self.appendLengthPrefixed(bytes, to: &output)
        }
    }

    private static func appendBigEndian(_ value: UInt64, to output: inout [UInt8]) {
        var shift = 56
        while shift >= 0 {
            output.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            shift -= 8
        }
    }

    private static func appendLengthPrefixed(_ bytes: ByteBuffer, to output: inout [UInt8]) {
        let length = UInt32(truncatingIfNeeded: bytes.readableBytes)
        output.append(UInt8(truncatingIfNeeded: length >> 24))
        output.append(UInt8(truncatingIfNeeded: length >> 16))
        output.append(UInt8(truncatingIfNeeded: length >> 8))
        output.append(UInt8(truncatingIfNeeded: length))
        bytes.withUnsafeReadableBytes { output.append(contentsOf: $0) }
    }
}

// MARK: - Keys

extension CopyValue {
    /// Orders primary-key values the way both databases are asked to order them while copying: numbers
    /// numerically, text and bytes by their bytes (SQLite's `BINARY`, PostgreSQL's `COLLATE "C"`).
    public static func compareKeys(_ lhs: some Collection<CopyValue>, _ rhs: some Collection<CopyValue>) -> Int {
        for (left, right) in zip(lhs, rhs) {
            let order = compare(left, right)
            if order != 0 { return order }
        }
        return lhs.count == rhs.count ? 0 : (lhs.count < rhs.count ? -1 : 1)
    }

    static func compare(_ lhs: CopyValue, _ rhs: CopyValue) -> Int {
        switch (lhs, rhs) {
        case (.null, .null): return 0
        case (.null, _): return -1
        case (_, .null): return 1
        case (.integer(let a), .integer(let b)), (.timestamp(let a), .timestamp(let b)):
            return a == b ? 0 : (a < b ? -1 : 1)
        case (.double(let a), .double(let b)):
            return a == b ? 0 : (a < b ? -1 : 1)
        case (.boolean(let a), .boolean(let b)):
            return a == b ? 0 : (!a ? -1 : 1)
        case (.text(let a), .text(let b)), (.json(let a), .json(let b)), (.binary(let a), .binary(let b)):
            return compareBytes(a, b)
        default:
            return lhs.kindOrder < rhs.kindOrder ? -1 : 1
        }
    }

    private var kindOrder: Int {
        switch self {
        case .null: 0
        case .boolean: 1
        case .integer: 2
        case .double: 3
        case .timestamp: 4
        case .text: 5
        case .json: 6
        case .binary: 7
        }
    }

    private static func compareBytes(_ a: ByteBuffer, _ b: ByteBuffer) -> Int {
        a.withUnsafeReadableBytes { left in
            b.withUnsafeReadableBytes { right in
                let common = min(left.count, right.count)
                for index in 0..<common where left[index] != right[index] {
                    return left[index] < right[index] ? -1 : 1
                }
                return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
            }
        }
    }

    /// A short, printable form for naming a row in a message: a key value, never a whole document.
    public var displayText: String {
        switch self {
        case .null: return "NULL"
        case .integer(let value): return String(value)
        case .double(let value): return String(value)
        case .boolean(let value): return value ? "true" : "false"
        case .timestamp(let millis): return Timestamp(millisecondsSince1970: millis).iso8601
        case .text(let bytes), .json(let bytes):
            let text = String(decoding: bytes.readableBytesView, as: UTF8.self)
            return text.count > 80 ? String(text.prefix(77)) + "…" : text
        case .binary(let bytes):
            return "\\x" + bytes.readableBytesView.prefix(32).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
    }
}
