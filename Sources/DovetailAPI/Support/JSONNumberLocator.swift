import Foundation

/// Finds the field behind a number `JSONDecoder` could not take.
///
/// swift-foundation's `JSONDecoder` reports a number that does not fit the field's type — an integer
/// beyond 64 bits, a fraction where a whole number is expected, `1e400` — as "The given data was not
/// valid JSON" with an empty coding path, the same error as for truly malformed text. Clients then read
/// a 400 about syntax for what is a 422 about one field. This reads the body with a strict scanner that
/// records each number's path and bytes, and replaces the suspicious numbers one at a time with `0`: the
/// one whose replacement changes the outcome is the field at fault. Malformed text scans as nil, so it
/// stays a 400.
enum JSONNumberLocator {
    /// A number in the body: where it is, its bytes, and whether an `Int64` holds it as written.
    struct Number {
        var path: [PathComponent]
        var range: Range<Int>
        var fitsInt64: Bool
        var isInteger: Bool
    }

    enum PathComponent: Equatable {
        case key(String)
        case index(Int)
    }

    /// Suspects tried before giving up: each try decodes the body again.
    static let maximumAttempts = 32

    /// The path of the number that made decoding `type` fail, in `APIJSON`'s field notation, or nil
    /// when the body is not valid JSON or no single number explains the failure.
    static func culprit<T: Decodable>(_ type: T.Type, in data: Data) -> String? {
        guard let numbers = scan(Array(data)) else { return nil }
        // Integers beyond 64 bits first: no field of the API takes them, so they are the likeliest.
        let suspects = numbers.filter { !$0.fitsInt64 }.sorted { ($0.isInteger ? 0 : 1) < ($1.isInteger ? 0 : 1) }
        for suspect in suspects.prefix(maximumAttempts) {
            var patched = data
            let start = patched.startIndex
            patched.replaceSubrange((start + suspect.range.lowerBound)..<(start + suspect.range.upperBound), with: Data("0".utf8))
            do {
                _ = try JSONDecoder().decode(T.self, from: patched)
            } catch let error as DecodingError {
                if case .dataCorrupted(let context) = error, context.codingPath.isEmpty { continue }
            } catch {}
            return describe(suspect.path)
        }
        return nil
    }

    /// `priority`, `metadata.count`, `labels.[2]`: the notation of `APIJSON.problem(for:)`.
    static func describe(_ path: [PathComponent]) -> String {
        path.map { component in
            switch component {
            case .key(let key): key
            case .index(let index): "[\(index)]"
            }
        }.joined(separator: ".")
    }

    /// Every number of a strict RFC 8259 document with its path, or nil if the bytes are not one.
    static func scan(_ bytes: [UInt8]) -> [Number]? {
        var scanner = Scanner(bytes: bytes)
        guard scanner.value(path: []) else { return nil }
        scanner.skipWhitespace()
        return scanner.index == bytes.count ? scanner.numbers : nil
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0
        var depth = 0
        var numbers: [Number] = []

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        mutating func value(path: [PathComponent]) -> Bool {
            skipWhitespace()
            guard let byte = current else { return false }
            switch byte {
            case UInt8(ascii: "{"): return object(path: path)
            case UInt8(ascii: "["): return array(path: path)
            case UInt8(ascii: "\""): return string() != nil
            case UInt8(ascii: "t"): return literal("true")
            case UInt8(ascii: "f"): return literal("false")
            case UInt8(ascii: "n"): return literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number(path: path)
            default: return false
            }
        }

        mutating func object(path: [PathComponent]) -> Bool {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 512 else { return false }
            index += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                index += 1
                return true
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\""), let key = string() else { return false }
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { return false }
                index += 1
                guard value(path: path + [.key(key)]) else { return false }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return true
                default: return false
                }
            }
        }

        mutating func array(path: [PathComponent]) -> Bool {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 512 else { return false }
            index += 1
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                index += 1
                return true
            }
            var position = 0
            while true {
                guard value(path: path + [.index(position)]) else { return false }
                position += 1
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return true
                default: return false
                }
            }
        }

        /// A string's text (escapes decoded, for keys); nil when malformed.
        mutating func string() -> String? {
            index += 1
            var scalars = String.UnicodeScalarView()
            var raw: [UInt8] = []
            func flush() -> Bool {
                guard !raw.isEmpty else { return true }
                guard let text = String(validating: raw, as: UTF8.self) else { return false }
                scalars.append(contentsOf: text.unicodeScalars)
                raw.removeAll()
                return true
            }
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard flush() else { return nil }
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    guard flush(), let escape = current else { return nil }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        guard let unit = hex4() else { return nil }
                        if (0xD800...0xDBFF).contains(unit) {
                            guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else { return nil }
                            index += 2
                            guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                            let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            guard let scalar = Unicode.Scalar(value) else { return nil }
                            scalars.append(scalar)
                        } else {
                            guard let scalar = Unicode.Scalar(unit) else { return nil }
                            scalars.append(scalar)
                        }
                    default: return nil
                    }
                case 0x00..<0x20:
                    return nil
                default:
                    raw.append(byte)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for byte in bytes[index..<index + 4] {
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
                value = value * 16 + digit
            }
            index += 4
            return value
        }

        mutating func literal(_ word: String) -> Bool {
            let expected = Array(word.utf8)
            guard index + expected.count <= bytes.count, Array(bytes[index..<index + expected.count]) == expected else { return false }
            index += expected.count
            return true
        }

        mutating func number(path: [PathComponent]) -> Bool {
            let start = index
            func digits() -> Int {
                let from = index
                while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
                return index - from
            }
            if current == UInt8(ascii: "-") { index += 1 }
            if current == UInt8(ascii: "0") {
                index += 1
            } else {
                guard digits() > 0 else { return false }
            }
            var isInteger = true
            if current == UInt8(ascii: ".") {
                index += 1
                isInteger = false
                guard digits() > 0 else { return false }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                isInteger = false
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { return false }
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            numbers.append(Number(path: path, range: start..<index, fitsInt64: isInteger && Int64(text) != nil, isInteger: isInteger))
            return true
        }
    }
}
