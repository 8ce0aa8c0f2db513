/// JSON text in one canonical spelling, so that a document checksums the same whether it was read back
/// from a SQLite text column or from PostgreSQL's `jsonb` (which reorders keys, drops duplicates, changes
/// whitespace and rewrites escapes and numbers).
///
/// The canonical form: no insignificant whitespace; object keys sorted by their canonical bytes, and a key
/// given twice keeps its last value (as `jsonb` does); strings with only `"`, `\` and control characters
/// escaped (`\u00XX`), a lone UTF-16 surrogate kept as its `\uXXXX` escape; numbers by their decimal value
/// as `[-]digits e exponent` with no leading or trailing zeros (`1.50`, `15e-1` and `0.15e1` are all `15e-1`,
/// `-0` is `0`). It is only ever hashed, never stored.
public enum CanonicalJSON {
    public struct Error: Swift.Error, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Deeper documents are refused rather than risking the stack of a concurrency thread (PostgreSQL too has a depth limit).
    static let maximumDepth = 512

    /// Appends the canonical form of the JSON text `input` (UTF-8, already validated) to `output`.
    public static func append(_ input: UnsafeRawBufferPointer, to output: inout [UInt8]) throws {
        var parser = Parser(bytes: input)
        parser.skipWhitespace()
        try parser.value(into: &output, depth: 0)
        parser.skipWhitespace()
        if parser.index != input.count { throw parser.error("unexpected text after the JSON value") }
    }

    /// The canonical form of `text`, for tests and messages.
    public static func canonical(_ text: String) throws -> String {
        var output: [UInt8] = []
        var text = text
        try text.withUTF8 { try append(UnsafeRawBufferPointer($0), to: &output) }
        return String(decoding: output, as: UTF8.self)
    }

    private struct Member {
        var start: Int
        var keyEnd: Int
        var end: Int
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0
        /// Members of the objects being parsed, innermost last; shared so that nesting allocates nothing.
        var members: [Member] = []

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        func error(_ reason: String) -> Error {
            Error(offset: index, reason: reason)
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(into output: inout [UInt8], depth: Int) throws {
            guard index < bytes.count else { throw error("unexpected end of text") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                guard depth < CanonicalJSON.maximumDepth else { throw error("nested too deeply") }
                try object(into: &output, depth: depth + 1)
            case UInt8(ascii: "["):
                guard depth < CanonicalJSON.maximumDepth else { throw error("nested too deeply") }
                try array(into: &output, depth: depth + 1)
            case UInt8(ascii: "\""):
                try string(into: &output)
            case UInt8(ascii: "t"):
                try literal("true", into: &output)
            case UInt8(ascii: "f"):
                try literal("false", into: &output)
            case UInt8(ascii: "n"):
                try literal("null", into: &output)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try number(into: &output)
            default:
                throw error("unexpected character")
            }
        }

        mutating func literal(_ word: StaticString, into output: inout [UInt8]) throws {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("unexpected end of text") }
            let expected = UnsafeRawBufferPointer(start: word.utf8Start, count: count)
            for offset in 0..<count where bytes[index + offset] != expected[offset] {
                throw error("unexpected character")
            }
            output.append(contentsOf: expected)
            index += count
        }

        mutating func array(into output: inout [UInt8], depth: Int) throws {
            index += 1
            output.append(UInt8(ascii: "["))
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                output.append(UInt8(ascii: "]"))
                return
            }
            while true {
                skipWhitespace()
                try value(into: &output, depth: depth)
                skipWhitespace()
                guard index < bytes.count else { throw error("unterminated array") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    output.append(UInt8(ascii: ","))
                } else if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    output.append(UInt8(ascii: "]"))
                    return
                } else {
                    throw error("expected ',' or ']'")
                }
            }
        }

        mutating func object(into output: inout [UInt8], depth: Int) throws {
            index += 1
            output.append(UInt8(ascii: "{"))
            let contentStart = output.count
            let base = members.count
            defer { members.removeSubrange(base...) }
            var inOrder = true
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                output.append(UInt8(ascii: "}"))
                return
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
                if members.count > base { output.append(UInt8(ascii: ",")) }
                let start = output.count
                try string(into: &output)
                let keyEnd = output.count
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                output.append(UInt8(ascii: ":"))
                skipWhitespace()
                try value(into: &output, depth: depth)
                let member = Member(start: start, keyEnd: keyEnd, end: output.count)
                if inOrder, members.count > base, Self.compareKeys(members[members.count - 1], member, in: output) >= 0 {
                    inOrder = false
                }
                members.append(member)
                skipWhitespace()
                guard index < bytes.count else { throw error("unterminated object") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    break
                } else {
                    throw error("expected ',' or '}'")
                }
            }
            if !inOrder {
                // Sort by key; of equal keys the last one given wins, as in `jsonb`.
                let content = Array(output[contentStart...])
                let objectMembers = members[base...].enumerated().map { ($0.offset, $0.element) }
                let sorted = objectMembers.sorted { lhs, rhs in
                    let order = Self.compareKeys(lhs.1, rhs.1, in: output)
                    return order != 0 ? order < 0 : lhs.0 < rhs.0
                }
                var kept: [Member] = []
                for (_, member) in sorted {
                    if let last = kept.last, Self.compareKeys(last, member, in: output) == 0 {
                        kept[kept.count - 1] = member
                    } else {
                        kept.append(member)
                    }
                }
                output.removeSubrange(contentStart...)
                for (position, member) in kept.enumerated() {
                    if position > 0 { output.append(UInt8(ascii: ",")) }
                    output.append(contentsOf: content[(member.start - contentStart)..<(member.end - contentStart)])
                }
            }
            output.append(UInt8(ascii: "}"))
        }

        static func compareKeys(_ lhs: Member, _ rhs: Member, in output: [UInt8]) -> Int {
            let left = output[lhs.start..<lhs.keyEnd]
            let right = output[rhs.start..<rhs.keyEnd]
            for (a, b) in zip(left, right) where a != b {
                return a < b ? -1 : 1
            }
            return left.count == right.count ? 0 : (left.count < right.count ? -1 : 1)
        }

        mutating func string(into output: inout [UInt8]) throws {
            index += 1
            output.append(UInt8(ascii: "\""))
            while true {
                let runStart = index
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
                    index += 1
                }
                if index > runStart {
                    output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
                }
                guard index < bytes.count else { throw error("unterminated string") }
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    output.append(UInt8(ascii: "\""))
                    return
                }
                if byte < 0x20 { throw error("control character in a string") }
                // A backslash escape.
                guard index + 1 < bytes.count else { throw error("unterminated escape") }
                let escape = bytes[index + 1]
                index += 2
                switch escape {
                case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case UInt8(ascii: "/"): output.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): Self.appendCodePoint(0x08, to: &output)
                case UInt8(ascii: "f"): Self.appendCodePoint(0x0C, to: &output)
                case UInt8(ascii: "n"): Self.appendCodePoint(0x0A, to: &output)
                case UInt8(ascii: "r"): Self.appendCodePoint(0x0D, to: &output)
                case UInt8(ascii: "t"): Self.appendCodePoint(0x09, to: &output)
                case UInt8(ascii: "u"):
                    let unit = try hex4()
                    if (0xD800...0xDBFF).contains(unit), index + 5 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        let saved = index
                        index += 2
                        let low = try hex4()
                        if (0xDC00...0xDFFF).contains(low) {
                            Self.appendCodePoint(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), to: &output)
                        } else {
                            Self.appendLoneSurrogate(unit, to: &output)
                            index = saved
                        }
                    } else if (0xD800...0xDFFF).contains(unit) {
                        Self.appendLoneSurrogate(unit, to: &output)
                    } else {
                        Self.appendCodePoint(unit, to: &output)
                    }
                default:
                    throw error("invalid escape")
                }
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("unterminated \\u escape") }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = bytes[index + offset]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw error("invalid \\u escape")
                }
                value = value << 4 | UInt32(digit)
            }
            index += 4
            return value
        }

        static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

        static func appendEscaped(_ unit: UInt32, to output: inout [UInt8]) {
            output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u")])
            for shift in stride(from: 12, through: 0, by: -4) {
                output.append(hexDigits[Int((unit >> UInt32(shift)) & 0xF)])
            }
        }

        static func appendLoneSurrogate(_ unit: UInt32, to output: inout [UInt8]) {
            appendEscaped(unit, to: &output)
        }

        /// A decoded code point, spelled as the canonical form spells it.
        static func appendCodePoint(_ scalar: UInt32, to output: inout [UInt8]) {
            switch scalar {
            case 0x22: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case 0x5C: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20: appendEscaped(scalar, to: &output)
            case 0x20..<0x80: output.append(UInt8(scalar))
            case 0x80..<0x800:
                output.append(UInt8(0xC0 | (scalar >> 6)))
                output.append(UInt8(0x80 | (scalar & 0x3F)))
            case 0x800..<0x10000:
                output.append(UInt8(0xE0 | (scalar >> 12)))
                output.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                output.append(UInt8(0x80 | (scalar & 0x3F)))
            default:
                output.append(UInt8(0xF0 | (scalar >> 18)))
                output.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
                output.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                output.append(UInt8(0x80 | (scalar & 0x3F)))
            }
        }

        mutating func number(into output: inout [UInt8]) throws {
            var negative = false
            if bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            let integerStart = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            let integerEnd = index
            guard integerEnd > integerStart else { throw error("invalid number") }
            if bytes[integerStart] == UInt8(ascii: "0"), integerEnd - integerStart > 1 { throw error("leading zero in a number") }
            var fractionStart = index
            var fractionEnd = index
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                fractionStart = index
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
                fractionEnd = index
                guard fractionEnd > fractionStart else { throw error("invalid number") }
            }
            var exponent = 0
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                var exponentNegative = false
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    exponentNegative = bytes[index] == UInt8(ascii: "-")
                    index += 1
                }
                let exponentStart = index
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                    // Saturates: such numbers are beyond what either database stores anyway.
                    if exponent < 1_000_000_000 { exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
                    index += 1
                }
                guard index > exponentStart else { throw error("invalid number") }
                if exponentNegative { exponent = -exponent }
            }
            // Significant digits: integer and fraction digits together, without leading or trailing zeros.
            exponent -= fractionEnd - fractionStart
            let signAt = output.count
            if negative { output.append(UInt8(ascii: "-")) }
            let digitsStart = output.count
            for position in integerStart..<integerEnd where !(output.count == digitsStart && bytes[position] == UInt8(ascii: "0")) {
                output.append(bytes[position])
            }
            for position in fractionStart..<fractionEnd where !(output.count == digitsStart && bytes[position] == UInt8(ascii: "0")) {
                output.append(bytes[position])
            }
            while output.count > digitsStart, output[output.count - 1] == UInt8(ascii: "0") {
                output.removeLast()
                exponent += 1
            }
            if output.count == digitsStart {
                output.removeSubrange(signAt...)
                output.append(UInt8(ascii: "0"))
                return
            }
            output.append(UInt8(ascii: "e"))
            output.append(contentsOf: String(exponent).utf8)
        }
    }
}
