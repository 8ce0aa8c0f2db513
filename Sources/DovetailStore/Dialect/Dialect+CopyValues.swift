import NIOCore
import PostgresNIO
import SQLiteNIO

/// Why one value could not be read or written; the caller adds the table, row and column.
struct CopyValueProblem: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// The message of a `CopyValueProblem` (or any other error) for a `CopyRowError`.
func describeProblem(_ error: any Error) -> String {
    (error as? CopyValueProblem)?.message ?? String(describing: error)
}

// MARK: - SQLite

extension CopyValue {
    /// Reads a value SQLite handed over for a column of logical type `type` (text and JSON arrive as BLOBs,
    /// see `Dialect.copySelectList`), refusing anything the column's type does not promise.
    init(sqlite data: SQLiteData, type: CopyColumnType) throws(CopyValueProblem) {
        if case .null = data {
            self = .null
            return
        }
        switch (type, data) {
        case (.text, .blob(let bytes)):
            guard UTF8Check.isValid(bytes) else { throw CopyValueProblem("the text is not valid UTF-8") }
            self = .text(bytes)
        case (.json, .blob(let bytes)):
            guard UTF8Check.isValid(bytes) else { throw CopyValueProblem("the JSON text is not valid UTF-8") }
            self = .json(bytes)
        case (.timestamp, .text(let text)):
            guard let timestamp = Timestamp(iso8601: text) else { throw CopyValueProblem("'\(text.prefix(40))' is not an ISO 8601 timestamp") }
            self = .timestamp(timestamp.millisecondsSince1970)
        case (.timestamp, .integer(let millis)):
            self = .timestamp(Int64(millis))
        case (.boolean, .integer(let value)):
            guard value == 0 || value == 1 else { throw CopyValueProblem("a boolean column holds \(value), not 0 or 1") }
            self = .boolean(value == 1)
        case (.integer, .integer(let value)):
            self = .integer(Int64(value))
        case (.double, .float(let value)):
            self = .double(value)
        case (.double, .integer(let value)):
            self = .double(Double(value))
        case (.binary, .blob(let bytes)):
            self = .binary(bytes)
        default:
            throw CopyValueProblem("a \(type.rawValue) column holds \(Self.describeStorageClass(data))")
        }
    }

    private static func describeStorageClass(_ data: SQLiteData) -> String {
        switch data {
        case .integer: "an integer"
        case .float: "a floating-point number"
        case .text: "text"
        case .blob: "a BLOB"
        case .null: "NULL"
        }
    }

    /// The value as SQLite stores it in Dovetail's schema: timestamps as ISO 8601 text, booleans as 0/1.
    func sqliteData() throws(CopyValueProblem) -> SQLiteData {
        switch self {
        case .null: return .null
        case .integer(let value): return .integer(SQLiteInt64(value))
        case .double(let value):
            // SQLite turns a NaN into NULL without a word: refuse instead of losing the value.
            guard !value.isNaN else { throw CopyValueProblem("NaN cannot be stored in SQLite (it would silently become NULL)") }
            return .float(value)
        case .boolean(let value): return .integer(value ? 1 : 0)
        case .timestamp(let millis): return .text(TimestampText.iso8601(millis))
        case .text(let bytes), .json(let bytes): return .text(String(buffer: bytes))
        case .binary(let bytes): return .blob(bytes)
        }
    }
}

// MARK: - PostgreSQL

extension CopyValue {
    /// PostgreSQL counts timestamp microseconds from 2000-01-01.
    static let postgresEpochOffsetMillis: Int64 = 946_684_800_000

    /// Reads a cell of a PostgreSQL result in binary format.
    init(postgres cell: PostgresCell) throws(CopyValueProblem) {
        guard var bytes = cell.bytes else {
            self = .null
            return
        }
        guard cell.format == .binary else { throw CopyValueProblem("PostgreSQL sent the value as text, expected binary") }
        switch cell.dataType {
        case .text, .varchar, .bpchar, .name:
            self = .text(bytes)
        case .jsonb:
            guard bytes.readInteger(as: UInt8.self) == 1 else { throw CopyValueProblem("unknown jsonb format version") }
            self = .json(bytes)
        case .json:
            self = .json(bytes)
        case .timestamptz, .timestamp:
            guard let micros = bytes.readInteger(as: Int64.self) else { throw CopyValueProblem("a timestamp of unexpected size") }
            guard micros != .max, micros != .min else { throw CopyValueProblem("an infinite timestamp cannot be copied") }
            let millis = micros >= 0 ? micros / 1000 : (micros - 999) / 1000
            self = .timestamp(millis + Self.postgresEpochOffsetMillis)
        case .bool:
            guard let value = bytes.readInteger(as: UInt8.self) else { throw CopyValueProblem("a boolean of unexpected size") }
            self = .boolean(value != 0)
        case .int8:
            guard let value = bytes.readInteger(as: Int64.self) else { throw CopyValueProblem("an integer of unexpected size") }
            self = .integer(value)
        case .int4:
            guard let value = bytes.readInteger(as: Int32.self) else { throw CopyValueProblem("an integer of unexpected size") }
            self = .integer(Int64(value))
        case .int2:
            guard let value = bytes.readInteger(as: Int16.self) else { throw CopyValueProblem("an integer of unexpected size") }
            self = .integer(Int64(value))
        case .float8:
            guard let bits = bytes.readInteger(as: UInt64.self) else { throw CopyValueProblem("a double of unexpected size") }
            self = .double(Double(bitPattern: bits))
        case .float4:
            guard let bits = bytes.readInteger(as: UInt32.self) else { throw CopyValueProblem("a real of unexpected size") }
            self = .double(Double(Float(bitPattern: bits)))
        case .bytea:
            self = .binary(bytes)
        default:
            throw CopyValueProblem("PostgreSQL type \(cell.dataType) is not one db copy knows")
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends the value as one field of `COPY … FROM STDIN` text format: `\N` for NULL, backslash escapes
    /// for backslash, tab, newline and carriage return, `\\x…` hex for bytes.
    func appendCopyText(to buffer: inout ByteBuffer) throws(CopyValueProblem) {
        switch self {
        case .null:
            buffer.writeStaticString("\\N")
        case .integer(let value):
            buffer.writeString(String(value))
        case .double(let value):
            if value.isNaN {
                buffer.writeStaticString("NaN")
            } else if value.isInfinite {
                buffer.writeStaticString(value < 0 ? "-Infinity" : "Infinity")
            } else {
                // Swift prints the shortest text that reads back as the same double.
                buffer.writeString(value.description)
            }
        case .boolean(let value):
            buffer.writeStaticString(value ? "t" : "f")
        case .timestamp(let millis):
            TimestampText.writeISO8601(millis, to: &buffer)
        case .text(let bytes):
            if bytes.readableBytesView.contains(0) {
                throw CopyValueProblem("the text contains a NUL character, which PostgreSQL cannot store")
            }
            Self.appendEscaped(bytes, to: &buffer)
        case .json(let bytes):
            Self.appendEscaped(bytes, to: &buffer)
        case .binary(let bytes):
            buffer.writeStaticString("\\\\x")
            buffer.reserveCapacity(minimumWritableBytes: bytes.readableBytes * 2)
            for byte in bytes.readableBytesView {
                buffer.writeInteger(Self.hexDigits[Int(byte >> 4)])
                buffer.writeInteger(Self.hexDigits[Int(byte & 0x0F)])
            }
        }
    }

    private static func appendEscaped(_ bytes: ByteBuffer, to buffer: inout ByteBuffer) {
        bytes.withUnsafeReadableBytes { raw in
            var runStart = 0
            for index in 0..<raw.count {
                let escape: UInt8
                switch raw[index] {
                case UInt8(ascii: "\\"): escape = UInt8(ascii: "\\")
                case UInt8(ascii: "\t"): escape = UInt8(ascii: "t")
                case UInt8(ascii: "\n"): escape = UInt8(ascii: "n")
                case UInt8(ascii: "\r"): escape = UInt8(ascii: "r")
                default: continue
                }
                if index > runStart { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<index])) }
                buffer.writeInteger(UInt8(ascii: "\\"))
                buffer.writeInteger(escape)
                runStart = index + 1
            }
            if raw.count > runStart { buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart...])) }
        }
    }
}

// MARK: - Helpers

/// UTF-8 validation without building a `String`, ASCII eight bytes at a time.
enum UTF8Check {
    static func isValid(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { isValid($0) }
    }

    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if index + 8 <= count, bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                index += 8
                continue
            }
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var minimum: UInt32
            var scalar: UInt32
            switch lead {
            case 0xC2...0xDF: length = 2; minimum = 0x80; scalar = UInt32(lead & 0x1F)
            case 0xE0...0xEF: length = 3; minimum = 0x800; scalar = UInt32(lead & 0x0F)
            case 0xF0...0xF4: length = 4; minimum = 0x10000; scalar = UInt32(lead & 0x07)
            default: return false
            }
            guard index + length <= count else { return false }
            for offset in 1..<length {
                let continuation = bytes[index + offset]
                guard continuation & 0xC0 == 0x80 else { return false }
                scalar = scalar << 6 | UInt32(continuation & 0x3F)
            }
            if scalar < minimum || scalar > 0x10FFFF || (0xD800...0xDFFF).contains(scalar) { return false }
            index += length
        }
        return true
    }
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ` from epoch milliseconds without going through `tm` and `String(format:)`,
/// which would dominate the cost of copying a timestamp.
enum TimestampText {
    static func iso8601(_ millis: Int64) -> String {
        var buffer = ByteBuffer()
        writeISO8601(millis, to: &buffer)
        return String(buffer: buffer)
    }

    static func writeISO8601(_ millis: Int64, to buffer: inout ByteBuffer) {
        let days = floorDivide(millis, 86_400_000)
        let millisOfDay = millis - days * 86_400_000
        let (year, month, day) = civil(fromDays: days)
        guard (0...9999).contains(year) else {
            // Outside four-digit years the fixed-width form does not apply; fall back to the general formatter.
            buffer.writeString(Timestamp(millisecondsSince1970: millis).generalISO8601)
            return
        }
        write(year, digits: 4, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "-"))
        write(month, digits: 2, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "-"))
        write(day, digits: 2, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "T"))
        write(millisOfDay / 3_600_000, digits: 2, to: &buffer)
        buffer.writeInteger(UInt8(ascii: ":"))
        write(millisOfDay / 60_000 % 60, digits: 2, to: &buffer)
        buffer.writeInteger(UInt8(ascii: ":"))
        write(millisOfDay / 1000 % 60, digits: 2, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "."))
        write(millisOfDay % 1000, digits: 3, to: &buffer)
        buffer.writeInteger(UInt8(ascii: "Z"))
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        value >= 0 ? value / divisor : (value - divisor + 1) / divisor
    }

    private static func write(_ value: Int64, digits: Int, to buffer: inout ByteBuffer) {
        var divisor: Int64 = 1
        for _ in 1..<digits { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            buffer.writeInteger(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a proleptic Gregorian date.
    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPart = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPart + 2) / 5 + 1
        let month = monthPart < 10 ? monthPart + 3 : monthPart - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
