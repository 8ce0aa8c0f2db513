@testable import DovetailStore
import Foundation
import Testing

/// `JSONTextParser` against `JSONDecoder` (through `JSONValue`'s `Decodable` conformance), the oracle: wherever
/// the parser answers it must answer what `JSONDecoder` does, and `JSONValue(parsing:)` must accept and refuse
/// exactly what `JSONDecoder` accepts and refuses.
@Suite("JSON text parser")
struct JSONTextParserTests {
    static func oracle(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    static let edgeCases: [String] = [
        "1", "1.0", "1e2", "1E2", "1e+2", "1e-2", "-0", "-0.0", "0", "0.5", "-1.5", "1.5", "0e0",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
        "1e19", "12345678901234567890", "0.1e1", "1e400", "-1e400", "1e-400", "2.0000000000000001",
        "100000000000000000000000", "4.0e18", "9.223372036854775807e18", "9007199254740993", "9007199254740993.0",
        "01", "1.", ".5", "+1", "-", "1e", "1e+", "--1", "0x10", "NaN", "Infinity",
        #""\u00e9\ud83c\udf89""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#, #""\u0000""#, #""\uD83D\uDE00""#,
        #""\/\\\"\b\f\n\r\t""#, #""\x""#, #""\u12""#, #""unterminated"#, "\"a\u{01}b\"", "\"tab\there\"",
        "\"é 🎉 \u{FEFF} ünï\"", "\"'; DROP TABLE tasks; --\"",
        "[]", "{}", " [ ] ", "[1,]", "[,1]", "[1 2]", "{\"a\":1,}", "{\"a\":1,\"a\":2}", "{\"a\" 1}", "{a:1}", "{\"a\":}",
        "[\"a\",\"b\"]", "{\"b\":[1,2,{\"c\":null}],\"a\":true}", "[true,false,null]", "tru", "nul", "falsey", "[] x", "",
        "   ", "\n[\n1\n]\n", "[[[[[[[[[[]]]]]]]]]]", String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        String(repeating: "[", count: 511) + String(repeating: "]", count: 511),
        "{\"k\":\"v\",\"K\":\"V\",\"\":0}", "[1.7976931348623157e308, 5e-324, -2.2250738585072014e-308]",
    ]

    @Test(arguments: edgeCases)
    func agreesWithJSONDecoder(_ text: String) throws {
        let expected = Self.oracle(text)
        if let parsed = JSONTextParser.parse(text) {
            #expect(parsed == expected, "the parser read \(parsed) where JSONDecoder reads \(String(describing: expected))")
        }
        let viaPublicPath = try? JSONValue(parsing: text)
        #expect(viaPublicPath == expected)
    }

    /// The point of the parser: the JSON the store writes must not fall back to `JSONDecoder`.
    @Test
    func readsWhatTheStoreWrites() throws {
        var generator = SplitMix(seed: 0x5EED)
        for round in 0..<1_500 {
            let value = Self.randomValue(&generator, depth: 0)
            for text in [value.canonicalText, try Self.pretty(value)] {
                let parsed = try #require(JSONTextParser.parse(text), "round \(round): declined \(text)")
                #expect(parsed == Self.oracle(text), "round \(round): \(text)")
                #expect(parsed == value, "round \(round): \(text)")
            }
        }
    }

    static func pretty(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func randomValue(_ generator: inout SplitMix, depth: Int) -> JSONValue {
        switch generator.next() % (depth > 3 ? 6 : 8) {
        case 0: return .null
        case 1: return .bool(generator.next() % 2 == 0)
        case 2:
            let magnitudes: [UInt64] = [10, 1_000, 1 << 31, 1 << 53, UInt64(Int64.max)]
            let bound = magnitudes[Int(generator.next() % UInt64(magnitudes.count))]
            let integer = Int64(bitPattern: generator.next() % bound)
            return .integer(generator.next() % 2 == 0 ? integer : -integer)
        case 3:
            // Non-integral doubles only: an integral one is read back as .integer, by JSONDecoder too.
            var double = Double(bitPattern: generator.next() >> 2 | 0x3000_0000_0000_0000) * (generator.next() % 2 == 0 ? 1 : -1)
            if double.rounded() == double { double += 0.5 }
            return double.isFinite && double.rounded() != double ? .number(double) : .number(0.25)
        case 4, 5: return .string(randomString(&generator))
        case 6: return .array((0..<Int(generator.next() % 5)).map { _ in randomValue(&generator, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int(generator.next() % 5) { members[randomString(&generator)] = randomValue(&generator, depth: depth + 1) }
            return .object(members)
        }
    }

    static func randomString(_ generator: inout SplitMix) -> String {
        let pieces = ["a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "\u{7F}", "é", "ü", "中", "🎉", "👩‍👩‍👧", "\u{FEFF}", "'", "%", "$1", "\u{2028}"]
        return (0..<Int(generator.next() % 12)).map { _ in pieces[Int(generator.next() % UInt64(pieces.count))] }.joined()
    }
}

/// A small deterministic generator, so a failure repeats.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
