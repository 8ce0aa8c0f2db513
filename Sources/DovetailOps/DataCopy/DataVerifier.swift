import DovetailStore
import Foundation
import Logging

/// `dovetail db verify`: compares two databases table by table — row counts and order-independent
/// checksums of canonicalised rows, both read read-only and side by side — and names the first
/// differing key of every table that differs.
public struct DataVerifier: Sendable {
    public var source: DatabaseURL
    public var target: DatabaseURL
    public var batchSize: Int
    public var waitTimeout: Duration
    public var pool: PoolSettings
    let logger: Logger

    public init(
        from source: DatabaseURL, to target: DatabaseURL, batchSize: Int = DataCopyOptions.defaultBatchSize, waitTimeout: Duration = .seconds(10),
        pool: PoolSettings = PoolSettings(), logger: Logger
    ) {
        self.source = source
        self.target = target
        self.batchSize = batchSize
        self.waitTimeout = waitTimeout
        self.pool = pool
        self.logger = logger
    }

    /// Returns the comparison; throws `DataCopyError` (with the report attached) when anything differs.
    public func run(progress: @escaping @Sendable (CopyProgress) -> Void = { _ in }) async throws -> DataCopyReport {
        try Endpoints.validate(source: source, target: target)
        guard batchSize > 0 else { throw DataCopyError.invalid("--batch-size must be at least 1.") }
        let clock = ContinuousClock()
        let start = clock.now
        let endpoints = Endpoints(pool: pool, waitTimeout: waitTimeout, logger: logger)
        let source = self.source
        let target = self.target
        let batchSize = self.batchSize
        return try await endpoints.with(source, role: "source", readOnly: true) { sourceDatabase in
            try await endpoints.with(target, role: "target", readOnly: true) { targetDatabase in
                let sourceVersion = try await Migrator(database: sourceDatabase).state().currentVersion
                let targetVersion = try await Migrator(database: targetDatabase).state().currentVersion
                guard sourceVersion == targetVersion else {
                    throw DataCopyError(
                        .schema,
                        "The source is at schema version \(sourceVersion) and the target at \(targetVersion): they cannot hold the same data. "
                            + "Migrate the older one with `dovetail db migrate`."
                    )
                }
                let plan = try CopyPlan.make(source: try await sourceDatabase.copyCatalog(), target: try await targetDatabase.copyCatalog())
                // Both sides are read at once, each in its own snapshot.
                async let sourceSums = Self.checksums(plan, in: sourceDatabase, batchSize: batchSize, phase: .reading, progress: progress)
                async let targetSums = Self.checksums(plan, in: targetDatabase, batchSize: batchSize, phase: .verifying, progress: progress)
                let (left, right) = try await (sourceSums, targetSums)
                var tables: [TableCopyReport] = []
                for (index, table) in plan.tables.enumerated() {
                    let match = left[index].0 == right[index].0
                    tables.append(TableCopyReport(
                        table: table.name, rows: left[index].0.rows, copied: 0, alreadyPresent: 0, seconds: left[index].1, verifySeconds: right[index].1,
                        sourceChecksum: left[index].0.hex, targetRows: right[index].0.rows, targetChecksum: right[index].0.hex, match: match,
                        firstDifference: match
                            ? nil : try await TableComparison.firstDifference(table, source: sourceDatabase, target: targetDatabase, batchSize: batchSize)
                    ))
                }
                let report = DataCopyReport(
                    operation: .verify, source: source.redacted, target: target.redacted, schemaVersion: sourceVersion, batchSize: batchSize,
                    tables: tables, verified: tables.allSatisfy { $0.match == true }, seconds: start.duration(to: clock.now) / .seconds(1),
                    notes: plan.derived.map { "not compared, derived by each database: \($0)" }
                )
                if !report.mismatches.isEmpty {
                    throw DataCopier.verificationFailure(report, advice: "The two databases do not hold the same rows.")
                }
                return report
            }
        }
    }

    private static func checksums(
        _ plan: CopyPlan, in database: Database, batchSize: Int, phase: CopyProgress.Phase, progress: @escaping @Sendable (CopyProgress) -> Void
    ) async throws -> [(TableChecksum, Double)] {
        try await database.withCopySnapshot { snapshot in
            var sums: [(TableChecksum, Double)] = []
            for table in plan.tables {
                sums.append(try await TableComparison.checksum(table, in: snapshot, batchSize: batchSize, phase: phase, progress: progress))
            }
            return sums
        }
    }
}
