import Foundation

/// One page of a keyset-paginated list; pass `nextCursor` back as `cursor` for the next page.
public struct Page<Item: Sendable & Codable>: Sendable, Codable {
    public var items: [Item]
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case items
        case nextCursor = "next_cursor"
    }

    /// Always writes `next_cursor`, as `null` on the last page, so clients can test for it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(nextCursor, forKey: .nextCursor)
    }
}

/// Where a page starts and how long it is. The cursor is opaque to clients: base64url of the
/// last row's sort key.
public struct PageRequest: Sendable {
    public static let defaultLimit = 50
    public static let maximumLimit = 500

    public var limit: Int
    public var cursor: String?

    public init(limit: Int = PageRequest.defaultLimit, cursor: String? = nil) {
        self.limit = limit
        self.cursor = cursor
    }

    func validatedLimit() throws -> Int {
        guard (1...Self.maximumLimit).contains(limit) else {
            throw StoreError.invalid("limit must be between 1 and \(Self.maximumLimit).", field: "limit")
        }
        return limit
    }

    /// The decoded sort key after which the page starts, or nil for the first page.
    func decodedCursor() throws -> String? {
        guard let cursor, !cursor.isEmpty else { return nil }
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        // A NUL inside is never issued by this server, and PostgreSQL would refuse it as a parameter (SQLSTATE 22021).
        guard let data = Data(base64Encoded: base64), let key = String(data: data, encoding: .utf8), key.hasPrefix("k:"),
            !key.unicodeScalars.contains("\u{0000}")
        else {
            throw StoreError.invalid("cursor is not a cursor this server issued; start again without it.", field: "cursor")
        }
        return String(key.dropFirst(2))
    }

    static func encodeCursor(_ key: String) -> String {
        Data(("k:" + key).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Builds a page from `limit + 1` fetched rows: the extra row only says that more exist.
    static func page<Item>(_ rows: [Item], limit: Int, key: (Item) -> String) -> Page<Item> {
        guard rows.count > limit else { return Page(items: rows, nextCursor: nil) }
        let items = Array(rows.prefix(limit))
        return Page(items: items, nextCursor: items.last.map { encodeCursor(key($0)) })
    }
}
