import Foundation
import PostgresNIO
import SQLiteNIO

/// A JSON column value: `jsonb` on PostgreSQL, JSON text on SQLite.
///
/// Binding this type (rather than a `String`) is what lets one SQL text insert into a `jsonb`
/// column on PostgreSQL and a `TEXT` column on SQLite.
public struct JSONDocument: Sendable, Hashable, Codable {
    public var value: JSONValue

    public init(_ value: JSONValue) {
        self.value = value
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self.value = try JSONValue(parsing: text)
        } else {
            self.value = try container.decode(JSONValue.self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value.canonicalText)
    }
}

extension JSONDocument: SQLiteDataConvertible {
    public init?(sqliteData: SQLiteData) {
        guard case .text(let text) = sqliteData, let value = try? JSONValue(parsing: text) else { return nil }
        self.value = value
    }

    public var sqliteData: SQLiteData? { .text(value.canonicalText) }
}

extension JSONDocument: PostgresNonThrowingEncodable, PostgresDecodable {
    public static var psqlType: PostgresDataType { .jsonb }
    public static var psqlFormat: PostgresFormat { .binary }

    /// The `jsonb` binary format is a version byte (1) followed by the JSON text.
    private static let jsonbVersion: UInt8 = 1

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(Self.jsonbVersion)
        byteBuffer.writeString(value.canonicalText)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer,
        type: PostgresDataType,
        format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        if type == .jsonb && format == .binary {
            guard buffer.readInteger(as: UInt8.self) == Self.jsonbVersion else { throw PostgresDecodingError.Code.failure }
        } else if type != .json && type != .jsonb && type != .text && type != .varchar {
            throw PostgresDecodingError.Code.typeMismatch
        }
        guard let text = buffer.readString(length: buffer.readableBytes) else { throw PostgresDecodingError.Code.failure }
        do {
            self.value = try JSONValue(parsing: text)
        } catch {
            throw PostgresDecodingError.Code.failure
        }
    }
}
