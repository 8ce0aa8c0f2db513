import Foundation
import PostgresNIO
import SQLiteNIO

/// A UTC instant with millisecond precision, stored as `timestamptz` on PostgreSQL and as
/// ISO 8601 text (`2026-11-22T01:54:51.123Z`) on SQLite. The fixed-width text sorts in time order,
/// so `ORDER BY` and range filters behave the same on both backends.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public let millisecondsSince1970: Int64

    public init(millisecondsSince1970: Int64) {
        self.millisecondsSince1970 = millisecondsSince1970
    }

    public init(_ date: Date) {
        self.millisecondsSince1970 = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    public static func now() -> Timestamp { Timestamp(Date()) }

    public var date: Date { Date(timeIntervalSince1970: Double(millisecondsSince1970) / 1000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSince1970 < rhs.millisecondsSince1970
    }

    public func adding(seconds: Int64) -> Timestamp {
        Timestamp(millisecondsSince1970: millisecondsSince1970 + seconds * 1000)
    }

    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, always 24 characters for years 0000-9999. Written digit by digit
    /// (`TimestampText`): every timestamp of every API response goes through here, and `String(format:)`
    /// took a fifth of the server's CPU when listing tasks.
    public var iso8601: String {
        TimestampText.iso8601(millisecondsSince1970)
    }

    /// The same through `gmtime_r` and `String(format:)`, for years outside 0000-9999.
    var generalISO8601: String {
        let seconds = millisecondsSince1970 >= 0 ? millisecondsSince1970 / 1000 : (millisecondsSince1970 - 999) / 1000
        let millis = millisecondsSince1970 - seconds * 1000
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(millis)
        )
    }

    /// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM]` (no zone means UTC). Hand-written because
    /// it runs for every timestamp read from SQLite, and must accept exactly what both backends print.
    public init?(iso8601 text: String) {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for index in range {
                let byte = bytes[index]
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 19, bytes[4] == 45, bytes[7] == 45, bytes[10] == 84 || bytes[10] == 32 || bytes[10] == 116,
            bytes[13] == 58, bytes[16] == 58,
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var index = 19
        var millis = 0
        if index < bytes.count && bytes[index] == 46 {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                if digits < 3 { millis = millis * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { millis *= 10 }
        }
        var offsetSeconds = 0
        if index < bytes.count {
            if bytes[index] == 90 || bytes[index] == 122 {
                index += 1
            } else if bytes[index] == 43 || bytes[index] == 45 {
                let sign = bytes[index] == 45 ? -1 : 1
                guard let offsetHours = number(index + 1..<index + 3) else { return nil }
                var offsetMinutes = 0
                var next = index + 3
                if next < bytes.count && bytes[next] == 58 { next += 1 }
                if next < bytes.count {
                    guard let minutes = number(next..<next + 2) else { return nil }
                    offsetMinutes = minutes
                    next += 2
                }
                offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
                index = next
            }
        }
        guard index == bytes.count else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = Int64(timegm(&parts)) - Int64(offsetSeconds)
        self.init(millisecondsSince1970: seconds * 1000 + Int64(millis))
    }

    public var description: String { iso8601 }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Timestamp(iso8601: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected an ISO 8601 timestamp, got '\(text)'")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(iso8601)
    }
}

extension Timestamp: SQLiteDataConvertible {
    public init?(sqliteData: SQLiteData) {
        switch sqliteData {
        case .text(let text): self.init(iso8601: text)
        case .integer(let millis): self.init(millisecondsSince1970: Int64(millis))
        default: return nil
        }
    }

    public var sqliteData: SQLiteData? { .text(iso8601) }
}

extension Timestamp: PostgresNonThrowingEncodable, PostgresDecodable {
    public static var psqlType: PostgresDataType { .timestamptz }
    public static var psqlFormat: PostgresFormat { .binary }

    /// PostgreSQL counts microseconds from 2000-01-01.
    private static let postgresEpochOffsetMillis: Int64 = 946_684_800_000

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger((millisecondsSince1970 - Self.postgresEpochOffsetMillis) * 1000)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer,
        type: PostgresDataType,
        format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        switch (type, format) {
        case (.timestamptz, .binary), (.timestamp, .binary):
            guard let micros = buffer.readInteger(as: Int64.self) else { throw PostgresDecodingError.Code.failure }
            let floored = micros >= 0 ? micros / 1000 : (micros - 999) / 1000
            self.init(millisecondsSince1970: floored + Self.postgresEpochOffsetMillis)
        case (.text, _), (.varchar, _):
            guard let text = buffer.readString(length: buffer.readableBytes), let value = Timestamp(iso8601: text) else {
                throw PostgresDecodingError.Code.failure
            }
            self = value
        default:
            throw PostgresDecodingError.Code.typeMismatch
        }
    }
}
