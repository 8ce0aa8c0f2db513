import Crypto
import DovetailStore

/// An order-independent checksum of a table: the row count and the wrapping sum of every row's digest
/// (the first 64 bits of SHA-256 over the row's canonical encoding, see `CopyValue.appendCanonical`).
///
/// A sum rather than an XOR, so that two identical rows do not cancel out. Both sides compute it in Swift
/// from the values their driver returns, so SQLite and PostgreSQL agree whenever the values do.
public struct TableChecksum: Sendable, Equatable, Codable, CustomStringConvertible {
    public private(set) var rows: Int = 0
    public private(set) var sum: UInt64 = 0

    public init() {}

    public mutating func add(_ digest: UInt64) {
        rows += 1
        sum &+= digest
    }

    /// 16 hex digits.
    public var hex: String {
        let digits = String(sum, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    public var description: String { "\(rows) rows, checksum \(hex)" }
}

/// Computes row digests for one table, reusing one scratch buffer.
struct RowHasher {
    let table: CopyTable
    /// Columns by name, so that the digest does not depend on the column order either database uses.
    private let canonicalOrder: [Int]
    private var scratch: [UInt8] = []

    init(table: CopyTable) {
        self.table = table
        self.canonicalOrder = table.columns.indices.sorted { table.columns[$0].name < table.columns[$1].name }
        scratch.reserveCapacity(4096)
    }

    mutating func digest(_ batch: CopyBatch, row: Int) throws -> UInt64 {
        scratch.removeAll(keepingCapacity: true)
        for column in canonicalOrder {
            do {
                try batch[row, column].appendCanonical(to: &scratch)
            } catch {
                throw CopyRowError(
                    table: table.name, row: table.describeKey(of: batch, row: row), column: table.columns[column].name,
                    problem: "\(error)"
                )
            }
        }
        let hash = SHA256.hash(data: scratch)
        return hash.withUnsafeBytes { raw in
            var value: UInt64 = 0
            for index in 0..<8 { value = value << 8 | UInt64(raw[index]) }
            return value
        }
    }
}
