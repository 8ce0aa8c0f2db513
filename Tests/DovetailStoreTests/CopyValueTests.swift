import Foundation
import NIOCore
import Testing

@testable import DovetailStore

/// The value encodings `db copy` relies on: canonical JSON and row encodings for checksums, COPY text,
/// timestamps and UTF-8 validation.
@Suite("Copy value encodings")
struct CopyValueTests {
    func canonical(_ text: String) throws -> String { try CanonicalJSON.canonical(text) }

    @Test
    func jsonSpellingsOfOneDocumentAgree() throws {
        // What SQLite may store and what PostgreSQL's jsonb prints for the same document.
        let stored = #"{"z": 1, "a": {"n": [1, 2.50, -0, 1e2, 0.15E1]}, "dup": 1, "dup": 2, "s": "\u00e9\ud83d\ude00\/\n"}"#
        let printed = #"{"a": {"n": [1, 2.50, 0, 100, 1.5]}, "s": "é😀/\n", "z": 1, "dup": 2}"#
        #expect(try canonical(stored) == canonical(printed))
        #expect(try canonical(stored) == #"{"a":{"n":[1e0,25e-1,0,1e2,15e-1]},"dup":2e0,"s":"é😀/\u000a","z":1e0}"#)
    }

    @Test
    func jsonDifferencesRemain() throws {
        #expect(try canonical(#"{"a": 1}"#) != canonical(#"{"a": 2}"#))
        #expect(try canonical(#"{"a": "1"}"#) != canonical(#"{"a": 1}"#))
        #expect(try canonical(#"[1, 2]"#) != canonical(#"[2, 1]"#))
        #expect(try canonical(#""x""#) != canonical(#""x ""#))
        #expect(try canonical("123456789012345678901234567890") != canonical("123456789012345678901234567891"))
        #expect(try canonical(#""\ud800""#) != canonical(#""\ufffd""#), "a lone surrogate is kept, not replaced")
        #expect(try canonical("null") == "null")
        #expect(try canonical(" true ") == "true")
    }

    @Test(arguments: ["{", "[1,]", "01", "1.", "-", #""a"#, #"{"a" 1}"#, "tru", "\"\u{1}\"", #""\x""#, "1 2", ""])
    func invalidJSONIsRejected(_ text: String) {
        #expect(throws: CanonicalJSON.Error.self) { try CanonicalJSON.canonical(text) }
    }

    @Test
    func deepJSONIsRejectedNotCrashing() {
        let deep = String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
        #expect(throws: CanonicalJSON.Error.self) { try CanonicalJSON.canonical(deep) }
    }

    func canonicalBytes(_ value: CopyValue) throws -> [UInt8] {
        var output: [UInt8] = []
        try value.appendCanonical(to: &output)
        return output
    }

    @Test
    func canonicalValuesIgnoreWhatDatabasesCannotKeep() throws {
        #expect(try canonicalBytes(.double(-0.0)) == canonicalBytes(.double(0.0)))
        #expect(try canonicalBytes(.double(.nan)) == canonicalBytes(.double(-.nan)))
        #expect(try canonicalBytes(.double(.infinity)) != canonicalBytes(.double(-.infinity)))
        #expect(try canonicalBytes(.text(ByteBuffer(string: ""))) != canonicalBytes(.null))
        #expect(try canonicalBytes(.binary(ByteBuffer(string: ""))) != canonicalBytes(.text(ByteBuffer(string: ""))))
        #expect(try canonicalBytes(.boolean(true)) != canonicalBytes(.integer(1)))
        #expect(try canonicalBytes(.json(ByteBuffer(string: #"{"b":1, "a":2}"#))) == canonicalBytes(.json(ByteBuffer(string: #"{"a": 2,"b": 1}"#))))
    }

    func copyText(_ value: CopyValue) throws -> String {
        var buffer = ByteBuffer()
        try value.appendCopyText(to: &buffer)
        return String(buffer: buffer)
    }

    @Test
    func copyTextFormatEscapesWhatPostgreSQLReads() throws {
        #expect(try copyText(.null) == "\\N")
        #expect(try copyText(.text(ByteBuffer(string: "a\tb\nc\rd\\e \\N"))) == "a\\tb\\nc\\rd\\\\e \\\\N")
        #expect(try copyText(.binary(ByteBuffer(bytes: [0, 15, 255]))) == "\\\\x000fff")
        #expect(try copyText(.double(.nan)) == "NaN")
        #expect(try copyText(.double(-.infinity)) == "-Infinity")
        #expect(try copyText(.double(.leastNonzeroMagnitude)) == "5e-324")
        #expect(try copyText(.boolean(false)) == "f")
        #expect(try copyText(.timestamp(-1)) == "1969-12-31T23:59:59.999Z")
        #expect(try copyText(.integer(.min)) == "-9223372036854775808")
        #expect(throws: CopyValueProblem.self) { try copyText(.text(ByteBuffer(bytes: [0x61, 0, 0x62]))) }
    }

    @Test
    func sqliteRefusesToLoseANaN() throws {
        #expect(throws: CopyValueProblem.self) { try CopyValue.double(.nan).sqliteData() }
        #expect(try CopyValue.double(.infinity).sqliteData() == .float(.infinity))
        #expect(try CopyValue.timestamp(1_234).sqliteData() == .text("1970-01-01T00:00:01.234Z"))
    }

    @Test
    func fastTimestampTextMatchesTimestamp() {
        var generator = SystemRandomNumberGenerator()
        let samples: [Int64] = [0, -1, 1, -86_400_000, 951_782_400_000, 253_402_300_799_999, -62_135_596_800_000]
            + (0..<5_000).map { _ in Int64.random(in: -62_135_596_800_000...253_402_300_799_999, using: &generator) }
        for millis in samples {
            #expect(TimestampText.iso8601(millis) == Timestamp(millisecondsSince1970: millis).generalISO8601, "\(millis)")
        }
    }

    @Test
    func utf8CheckAgreesWithTheStandardLibrary() {
        let cases: [[UInt8]] = [
            Array("plain ascii text that is longer than eight bytes".utf8), Array("é😀中".utf8), [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xE2, 0x82], [0x80], [0xFF], Array("abcdefgh".utf8) + [0xC3], [],
        ]
        for bytes in cases {
            let expected = String(validating: bytes, as: UTF8.self) != nil
            #expect(bytes.withUnsafeBytes { UTF8Check.isValid($0) } == expected, "\(bytes)")
        }
    }

    @Test
    func keysCompareByBytes() {
        let a = CopyValue.text(ByteBuffer(string: "B"))
        let b = CopyValue.text(ByteBuffer(string: "a"))
        #expect(CopyValue.compareKeys([a], [b]) < 0, "byte order, not a locale's")
        #expect(CopyValue.compareKeys([CopyValue.integer(9)], [CopyValue.integer(10)]) < 0)
        #expect(CopyValue.compareKeys([CopyValue.text(ByteBuffer(string: "ab"))], [CopyValue.text(ByteBuffer(string: "a"))]) > 0)
    }

    @Test
    func readOnlyURIEscapesSpecialCharacters() {
        #expect(SQLiteEngine.readOnlyURI("/tmp/a b/c?d#e%f.db") == "file:/tmp/a%20b/c%3Fd%23e%25f.db?mode=ro")
    }
}
