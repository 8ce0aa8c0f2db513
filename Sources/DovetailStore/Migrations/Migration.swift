import Crypto
import Foundation

/// One numbered schema change, with its SQLite and PostgreSQL statements side by side.
///
/// A migration is never edited once it has shipped: its checksum is recorded when applied, and
/// `db check` reports any applied migration whose text has since changed.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    let sqlite: [String]
    let postgres: [String]

    init(version: Int, name: String, sqlite: [String], postgres: [String]) {
        self.version = version
        self.name = name
        self.sqlite = sqlite
        self.postgres = postgres
    }

    public func statements(for dialect: Dialect) -> [String] {
        switch dialect {
        case .sqlite: sqlite
        case .postgres: postgres
        }
    }

    /// SHA-256 of this dialect's statements, hex encoded. Each dialect checksums its own text,
    /// because that is the text the database actually ran.
    public func checksum(for dialect: Dialect) -> String {
        let text = statements(for: dialect).joined(separator: ";\n")
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
