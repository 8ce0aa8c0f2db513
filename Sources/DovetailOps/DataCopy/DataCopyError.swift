/// Why `db copy` or `db verify` refused to start or failed; every message says what to do next.
///
/// URLs in messages are always the redacted form: no password ever appears.
public struct DataCopyError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The command was asked for something it cannot do (same database twice, `:memory:`, conflicting flags).
        case invalidRequest
        /// A schema version or shape that rules the copy out.
        case schema
        /// The target already holds rows and neither `--truncate` nor `--resume` was given.
        case targetNotEmpty
        /// Counts or checksums differ between source and target.
        case verificationFailed
    }

    public let kind: Kind
    public let message: String
    /// The summary computed before the failure, when there is one worth printing (a failed verification,
    /// a dry run whose copy would be refused).
    public internal(set) var report: DataCopyReport?

    init(_ kind: Kind, _ message: String, report: DataCopyReport? = nil) {
        self.kind = kind
        self.message = message
        self.report = report
    }

    public var description: String { message }

    static func invalid(_ message: String) -> DataCopyError {
        DataCopyError(.invalidRequest, message)
    }

    static func schemaMismatch(_ problems: [String]) -> DataCopyError {
        DataCopyError(
            .schema,
            "The source and target schemas differ, so rows cannot be copied column for column: "
                + problems.joined(separator: "; ")
                + ". Run `dovetail db check` on both databases."
        )
    }

    static func targetNotEmpty(_ tables: [String], target: String) -> DataCopyError {
        DataCopyError(
            .targetNotEmpty,
            "The target \(target) already holds rows (in \(tables.joined(separator: ", "))). "
                + "Re-run with --resume to finish an interrupted copy, or with --truncate to empty the target and start over."
        )
    }
}
