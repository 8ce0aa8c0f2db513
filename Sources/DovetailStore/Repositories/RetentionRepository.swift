import SQLKit

/// What one purge removed (or, in a dry run, would remove).
public struct PurgeReport: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case cutoff, events, runs, sessions
        case dryRun = "dry_run"
    }

    public var cutoff: Timestamp
    public var events: Int
    public var runs: Int
    public var sessions: Int
    public var dryRun: Bool

    public init(cutoff: Timestamp, events: Int, runs: Int, sessions: Int, dryRun: Bool) {
        self.cutoff = cutoff
        self.events = events
        self.runs = runs
        self.sessions = sessions
        self.dryRun = dryRun
    }
}

/// `HISTORY_RETENTION_DAYS`: deletes session events, finished runs (with their steps) and
/// soft-deleted sessions (with their messages and events) older than the cutoff, a batch per
/// transaction so no lock is held for long.
public struct RetentionRepository: Sendable {
    let database: Database
    public static let batchSize = 1000

    public init(database: Database) {
        self.database = database
    }

    public static func cutoff(days: Int, now: Timestamp = .now()) -> Timestamp {
        now.adding(seconds: -Int64(days) * 86_400)
    }

    public func purge(olderThan cutoff: Timestamp, dryRun: Bool = false) async throws -> PurgeReport {
        let targets: [(table: String, condition: SQLQueryString)] = [
            ("session_events", "created_at < \(bind: cutoff)"),
            ("runs", "status IN ('succeeded', 'failed', 'cancelled') AND finished_at < \(bind: cutoff)"),
            ("sessions", "deleted_at IS NOT NULL AND deleted_at < \(bind: cutoff)"),
        ]
        var counts: [Int] = []
        for target in targets {
            counts.append(dryRun ? try await count(target.table, target.condition) : try await deleteInBatches(target.table, target.condition))
        }
        return PurgeReport(cutoff: cutoff, events: counts[0], runs: counts[1], sessions: counts[2], dryRun: dryRun)
    }

    private func count(_ table: String, _ condition: SQLQueryString) async throws -> Int {
        try await database.read { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM \(ident: table) WHERE \(condition)").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    private func deleteInBatches(_ table: String, _ condition: SQLQueryString) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await database.write { sql in
                try await sql.raw("""
                    DELETE FROM \(ident: table) WHERE id IN (SELECT id FROM \(ident: table) WHERE \(condition) LIMIT \(literal: Self.batchSize)) RETURNING id
                    """).all().count
            }
            total += deleted
            if deleted < Self.batchSize { return total }
        }
    }
}
