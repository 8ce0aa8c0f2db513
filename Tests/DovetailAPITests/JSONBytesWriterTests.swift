@testable import DovetailAPI
@testable import DovetailStore
import Foundation
import NIOCore
import Testing

/// The hand-written response encoder must give exactly `JSONEncoder`'s bytes, or clients would see
/// responses change shape depending on the type behind them.
@Suite("Direct JSON writer matches JSONEncoder")
struct JSONBytesWriterTests {
    static let awkwardTexts: [String] = [
        "", "plain", "quote \" backslash \\ slash / done", "'; DROP TABLE tasks; --",
        "tab\tnew line\ncarriage\rbackspace\u{08}form feed\u{0C}", "nul \u{00} unit separator \u{1F} escape \u{1B} del \u{7F}",
        "unicode é ü ß 漢字 \u{2028} \u{2029}", "emoji 🚀👩‍💻🏳️‍🌈", "\u{FEFF}bom", String(repeating: "long ", count: 400),
    ]

    static func card(title: String, agent: String?, labels: JSONValue) -> TaskCard {
        TaskCard(
            id: "0192f0c1-7a2b-7c3d-8e4f-0123456789ab", projectId: "proj \"x\"", title: title, description: title + "/desc",
            column: .inProgress, position: 42, priority: -7, labels: labels, assignedAgentId: agent,
            createdAt: Timestamp(millisecondsSince1970: 1_732_000_000_123), updatedAt: Timestamp(millisecondsSince1970: 0)
        )
    }

    static let labelCases: [JSONValue] = [
        .array([]),
        .array([.string("a"), .string("b/c"), .integer(Int64.max), .integer(Int64.min), .bool(true), .null]),
        .array([.number(1.5), .number(1e21), .number(-0.000001), .number(3)]),
        .array([.object(["b": .integer(1), "a": .string("x"), "a10": .null, "a9": .array([]), "B": .bool(false), "é": .string("")])]),
        .array([.array([.string("nested"), .array([])])]),
    ]

    @Test("task cards", arguments: awkwardTexts)
    func taskCards(text: String) throws {
        for labels in Self.labelCases {
            for agent in [nil, text] {
                let card = Self.card(title: text, agent: agent, labels: labels)
                let direct = try APIJSON.body(card)
                let expected = try APIJSON.encoder.encode(card)
                #expect(Array(direct.readableBytesView) == Array(expected), "\(String(decoding: expected, as: UTF8.self))")
            }
        }
    }

    @Test("pages, with and without a cursor")
    func pages() throws {
        let cards = Self.awkwardTexts.map { Self.card(title: $0, agent: nil, labels: .array([.string($0)])) }
        for page in [Page(items: cards, nextCursor: "azE6Mg"), Page(items: [], nextCursor: nil), Page(items: [cards[0]], nextCursor: nil)] {
            let direct = try APIJSON.body(page)
            #expect(Array(direct.readableBytesView) == Array(try APIJSON.encoder.encode(page)))
        }
    }

    @Test("types without a direct writer still go through JSONEncoder")
    func fallback() throws {
        let value = ["b": 1, "a": 2]
        #expect(Array(try APIJSON.body(value).readableBytesView) == Array(#"{"a":2,"b":1}"#.utf8))
    }
}
