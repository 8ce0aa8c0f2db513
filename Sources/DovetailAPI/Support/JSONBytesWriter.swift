import DovetailStore
import NIOCore

/// A response body type that writes its own JSON bytes, byte for byte what `APIJSON.encoder` would
/// produce (sorted keys, `/` unescaped), so `APIJSON.response` can skip `JSONEncoder`.
///
/// Why: Foundation's `JSONEncoder` builds a tree of boxed values before writing any byte, and was about
/// 40% of the server's CPU on a task list under load. Only the hot response types conform;
/// `OpenAPIDocumentTests`/`JSONBytesWriterTests` compare both encoders on awkward values.
protocol DirectJSONEncodable: Encodable {
    func writeJSON(to writer: inout JSONBytesWriter) throws
}

/// Appends JSON to a `ByteBuffer`. Callers write object keys in sorted order themselves.
struct JSONBytesWriter {
    var buffer: ByteBuffer

    init(capacity: Int = 512) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func raw(_ text: StaticString) {
        buffer.writeStaticString(text)
    }

    mutating func byte(_ byte: UInt8) {
        buffer.writeInteger(byte)
    }

    mutating func null() { raw("null") }

    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    mutating func integer(_ value: some BinaryInteger) {
        buffer.writeString(String(value))
    }

    /// `"key":` — keys are the fixed snake_case names of the API, which need no escaping.
    mutating func key(_ name: StaticString) {
        byte(UInt8(ascii: "\""))
        buffer.writeStaticString(name)
        raw("\":")
    }

    mutating func string(_ value: String) {
        byte(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if start < index { buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<index]))) }
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    let digits: StaticString = "0123456789abcdef"
                    digits.withUTF8Buffer { hex in
                        buffer.writeInteger(hex[Int(byte >> 4)])
                        buffer.writeInteger(hex[Int(byte & 0x0F)])
                    }
                }
            }
            if start < bytes.count { buffer.writeBytes(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))) }
        }
        byte(UInt8(ascii: "\""))
    }

    mutating func optionalString(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    mutating func timestamp(_ value: Timestamp) {
        string(value.iso8601)
    }

    /// Strings, integers, booleans, null and arrays of them are written here; objects and floating-point
    /// numbers go through `JSONEncoder` (key order and number formatting are its own, and they are rare in
    /// the hot responses), so the bytes always match.
    mutating func value(_ value: JSONValue) throws {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .integer(let number): integer(number)
        case .string(let text): string(text)
        case .array(let elements):
            byte(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { byte(UInt8(ascii: ",")) }
                try self.value(element)
            }
            byte(UInt8(ascii: "]"))
        case .number, .object:
            buffer.writeBytes(try APIJSON.encoder.encode(value))
        }
    }

    mutating func array<Element: DirectJSONEncodable>(_ elements: [Element]) throws {
        byte(UInt8(ascii: "["))
        for (index, element) in elements.enumerated() {
            if index > 0 { byte(UInt8(ascii: ",")) }
            try element.writeJSON(to: &self)
        }
        byte(UInt8(ascii: "]"))
    }
}

extension TaskCard: DirectJSONEncodable {
    func writeJSON(to writer: inout JSONBytesWriter) throws {
        writer.raw("{")
        // Synthesised `Encodable` leaves a nil optional out rather than writing null.
        if let assignedAgentId { writer.key("assigned_agent_id"); writer.string(assignedAgentId); writer.raw(",") }
        writer.key("column"); writer.string(column.rawValue)
        writer.raw(","); writer.key("created_at"); writer.timestamp(createdAt)
        writer.raw(","); writer.key("description"); writer.string(description)
        writer.raw(","); writer.key("id"); writer.string(id)
        writer.raw(","); writer.key("labels"); try writer.value(labels)
        writer.raw(","); writer.key("position"); writer.integer(position)
        writer.raw(","); writer.key("priority"); writer.integer(priority)
        writer.raw(","); writer.key("project_id"); writer.string(projectId)
        writer.raw(","); writer.key("title"); writer.string(title)
        writer.raw(","); writer.key("updated_at"); writer.timestamp(updatedAt)
        writer.raw("}")
    }
}

extension Page: DirectJSONEncodable where Item: DirectJSONEncodable {
    func writeJSON(to writer: inout JSONBytesWriter) throws {
        writer.raw("{")
        writer.key("items"); try writer.array(items)
        writer.raw(","); writer.key("next_cursor"); writer.optionalString(nextCursor)
        writer.raw("}")
    }
}
