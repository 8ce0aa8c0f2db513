/// Why migrating was refused; each message says what to do next.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public var description: String { message }

    static func drift(_ records: [MigrationRecord]) -> MigrationError {
        let names = records.map { "\($0.version) (\($0.name))" }.joined(separator: ", ")
        return MigrationError(
            message: "Applied migration \(names) no longer matches its recorded checksum: the migration text was edited after it ran. "
                + "Restore the original text and add a new migration instead; `dovetail db check` shows the details."
        )
    }

    static func newerDatabase(version: Int, known: Int) -> MigrationError {
        MigrationError(
            message: "The database is at schema \(version), this dovetail knows up to \(known): upgrade dovetail (a newer release migrated this database)."
        )
    }
}
