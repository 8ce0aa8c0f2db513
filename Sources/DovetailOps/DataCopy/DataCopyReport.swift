import DovetailStore
import Foundation

/// How `db copy` runs; the defaults are the command line's.
public struct DataCopyOptions: Sendable {
    public static let defaultBatchSize = 5_000

    /// Rows per batch: one transaction (SQLite) or one `COPY` statement (PostgreSQL) each, and the unit of memory use.
    public var batchSize: Int
    /// Re-read the target afterwards and compare counts and checksums with the source.
    public var verify: Bool
    /// Read the source, compute counts and checksums and report the plan; write nothing anywhere.
    public var dryRun: Bool
    /// Empty the target's tables first.
    public var truncate: Bool
    /// Keep the rows an interrupted copy left in the target and copy only what is missing.
    public var resume: Bool
    /// How long to wait for a PostgreSQL server to answer before giving up.
    public var waitTimeout: Duration

    public init(
        batchSize: Int = DataCopyOptions.defaultBatchSize, verify: Bool = true, dryRun: Bool = false, truncate: Bool = false,
        resume: Bool = false, waitTimeout: Duration = .seconds(10)
    ) {
        self.batchSize = batchSize
        self.verify = verify
        self.dryRun = dryRun
        self.truncate = truncate
        self.resume = resume
        self.waitTimeout = waitTimeout
    }
}

/// Where a copy or a verification stands, reported after every batch.
public struct CopyProgress: Sendable {
    public enum Phase: String, Sendable {
        /// Rows are read from the source and written to the target.
        case copying
        /// Rows are read and checksummed (a dry run, or `db verify` on the source).
        case reading
        /// The target is read back and checksummed.
        case verifying
        /// A table's full-text search (deferred during the load) is being built; reported once, when done, as it
        /// runs beside the copying of the next tables. Row counts are zero.
        case indexing
    }

    public var phase: Phase
    public var table: String
    public var rowsDone: Int
    public var rowsTotal: Int
    public var elapsed: Duration
    public var isFinished: Bool

    public var rowsPerSecond: Double {
        let seconds = elapsed / .seconds(1)
        return seconds > 0 ? Double(rowsDone) / seconds : 0
    }
}

/// One table's line of the summary.
public struct TableCopyReport: Sendable, Codable, Equatable {
    public var table: String
    /// Rows in the source.
    public var rows: Int
    /// Rows this run wrote (zero for a dry run or `db verify`).
    public var copied: Int
    /// Rows an interrupted copy had already written and `--resume` kept.
    public var alreadyPresent: Int
    /// Time spent copying (or, for a dry run and `db verify`, reading) the table.
    public var seconds: Double
    public var verifySeconds: Double?
    public var sourceChecksum: String
    public var targetRows: Int?
    public var targetChecksum: String?
    /// Nil when the target was not read back.
    public var match: Bool?
    /// The first key at which source and target differ, when they do.
    public var firstDifference: String?

    enum CodingKeys: String, CodingKey {
        case table, rows, copied, seconds, match
        case alreadyPresent = "already_present"
        case verifySeconds = "verify_seconds"
        case sourceChecksum = "source_checksum"
        case targetRows = "target_rows"
        case targetChecksum = "target_checksum"
        case firstDifference = "first_difference"
    }
}

/// What `db copy`, its dry run and `db verify` print as their summary (`--json` prints this encoded).
public struct DataCopyReport: Sendable, Codable {
    public enum Operation: String, Sendable, Codable {
        case copy
        case dryRun = "dry-run"
        case verify
    }

    public var operation: Operation
    /// Redacted URLs: never a password.
    public var source: String
    public var target: String
    public var schemaVersion: Int
    public var batchSize: Int
    public var tables: [TableCopyReport]
    /// True when the target was read back and every table matched.
    public var verified: Bool
    public var seconds: Double
    /// What else happened or would happen: migrations, truncation, objects left for the target to derive.
    public var notes: [String]

    public var totalRows: Int { tables.reduce(0) { $0 + $1.rows } }
    public var mismatches: [TableCopyReport] { tables.filter { $0.match == false } }

    enum CodingKeys: String, CodingKey {
        case operation, source, target, tables, verified, seconds, notes
        case schemaVersion = "schema_version"
        case batchSize = "batch_size"
        case totalRows = "total_rows"
    }

    public init(
        operation: Operation, source: String, target: String, schemaVersion: Int, batchSize: Int, tables: [TableCopyReport], verified: Bool,
        seconds: Double, notes: [String]
    ) {
        self.operation = operation
        self.source = source
        self.target = target
        self.schemaVersion = schemaVersion
        self.batchSize = batchSize
        self.tables = tables
        self.verified = verified
        self.seconds = seconds
        self.notes = notes
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        operation = try container.decode(Operation.self, forKey: .operation)
        source = try container.decode(String.self, forKey: .source)
        target = try container.decode(String.self, forKey: .target)
        schemaVersion = try container.decode(Int.self, forKey: .schemaVersion)
        batchSize = try container.decode(Int.self, forKey: .batchSize)
        tables = try container.decode([TableCopyReport].self, forKey: .tables)
        verified = try container.decode(Bool.self, forKey: .verified)
        seconds = try container.decode(Double.self, forKey: .seconds)
        notes = try container.decode([String].self, forKey: .notes)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(operation, forKey: .operation)
        try container.encode(source, forKey: .source)
        try container.encode(target, forKey: .target)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(batchSize, forKey: .batchSize)
        try container.encode(tables, forKey: .tables)
        try container.encode(verified, forKey: .verified)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(notes, forKey: .notes)
        try container.encode(totalRows, forKey: .totalRows)
    }

    /// Pretty, key-sorted JSON.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
