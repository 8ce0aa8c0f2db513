import DovetailStore
import Foundation
import Logging

/// `dovetail db copy`: copies every Dovetail table from one database to another (SQLite ⇄ PostgreSQL),
/// then proves the copy by comparing per-table counts and checksums of both sides.
///
/// - The source is opened read-only and read inside one snapshot; it is never written.
/// - The target is first migrated to the source's schema version; tables go in foreign-key order, in
///   batches that are each committed on their own (`COPY FROM STDIN` on PostgreSQL, one transaction
///   per batch on SQLite), read from a cursor or by keyset pages so memory holds a few batches at most.
/// - Batches go in primary-key order, so an interrupted copy leaves each table holding a prefix of its
///   rows: `--resume` continues after the largest key present, `--truncate` starts over.
public struct DataCopier: Sendable {
    public var source: DatabaseURL
    public var target: DatabaseURL
    public var options: DataCopyOptions
    public var pool: PoolSettings
    /// The migrations this dovetail knows; replaced in tests to play a source of an older version.
    var migrations: [Migration] = Migrations.all
    let logger: Logger

    public init(from source: DatabaseURL, to target: DatabaseURL, options: DataCopyOptions = DataCopyOptions(), pool: PoolSettings = PoolSettings(), logger: Logger) {
        self.source = source
        self.target = target
        self.options = options
        self.pool = pool
        self.logger = logger
    }

    /// Copies (or, with `dryRun`, only plans) and returns the summary. Throws `DataCopyError` for refusals and
    /// failed verification, `CopyRowError` for a value the target cannot take, `StoreError` for unreachable databases.
    public func run(progress: @escaping @Sendable (CopyProgress) -> Void = { _ in }) async throws -> DataCopyReport {
        try Endpoints.validate(source: source, target: target)
        guard options.batchSize > 0 else { throw DataCopyError.invalid("--batch-size must be at least 1.") }
        if options.truncate && options.resume {
            throw DataCopyError.invalid("--truncate and --resume contradict each other: --truncate starts over, --resume keeps what is there.")
        }
        let endpoints = Endpoints(pool: pool, waitTimeout: options.waitTimeout, logger: logger)
        return try await endpoints.with(source, role: "source", readOnly: true) { sourceDatabase in
            let version = try await Endpoints.checkSource(sourceDatabase, migrations: migrations)
            if options.dryRun {
                return try await dryRun(sourceDatabase, version: version, endpoints: endpoints, progress: progress)
            }
            return try await endpoints.with(target, role: "target", readOnly: false) { targetDatabase in
                try await copy(from: sourceDatabase, to: targetDatabase, version: version, progress: progress)
            }
        }
    }

    // MARK: Copy

    private func copy(
        from sourceDatabase: Database, to targetDatabase: Database, version: Int, progress: @escaping @Sendable (CopyProgress) -> Void
    ) async throws -> DataCopyReport {
        let clock = ContinuousClock()
        let start = clock.now
        var notes: [String] = []
        let targetState = try await Migrator(database: targetDatabase, migrations: migrations).state()
        try Endpoints.checkTarget(targetState, sourceVersion: version, target: target)
        let toApply = migrations.filter { $0.version <= version }
        let applied = try await Migrator(database: targetDatabase, migrations: toApply).migrate(logger: logger)
        if !applied.isEmpty { notes.append("target migrated from schema version \(targetState.currentVersion) to \(version)") }

        let plan = try CopyPlan.make(source: try await sourceDatabase.copyCatalog(), target: try await targetDatabase.copyCatalog())
        notes += plan.derived.map { "not copied, derived by each database: \($0)" }

        // What the target holds already, and where an interrupted copy stopped.
        let resume = options.resume
        let present = try await targetDatabase.withCopySnapshot { snapshot in
            var present: [String: [CopyValue]?] = [:]
            for table in plan.tables where try await snapshot.hasRows(table.name) {
                present.updateValue(resume ? try await snapshot.lastKey(table) : nil, forKey: table.name)
            }
            return present
        }
        let nonEmpty = plan.tables.map(\.name).filter { present[$0] != nil }
        if !nonEmpty.isEmpty && !options.truncate && !options.resume {
            throw DataCopyError.targetNotEmpty(nonEmpty, target: target.redacted)
        }
        // Without a primary key there is no "largest key present": such a table is copied again whole.
        // --truncate empties every copied table, not only the non-empty ones: PostgreSQL refuses to
        // truncate a table that an omitted (even empty) table references.
        let restart = options.truncate ? (nonEmpty.isEmpty ? [] : plan.tables.map(\.name)) : plan.tables.filter { !$0.hasPrimaryKey && present[$0.name] != nil }.map(\.name)
        if !restart.isEmpty {
            try await targetDatabase.withCopyWriter { writer in try await writer.deleteAll(restart.reversed()) }
            notes.append(options.truncate ? "target tables emptied first (--truncate)" : "tables without a primary key copied again whole: \(restart.joined(separator: ", "))")
        }
        var resumeKeys: [String: [CopyValue]] = [:]
        if options.resume {
            for table in plan.tables where !restart.contains(table.name) {
                if let key = present[table.name] ?? nil { resumeKeys[table.name] = key }
            }
            if !resumeKeys.isEmpty { notes.append("resumed: rows already in the target were kept (\(resumeKeys.keys.sorted().joined(separator: ", ")))") }
        }

        // Tables loaded from empty get their full-text search built in bulk after their rows are in; objects an
        // interrupted copy left out are built again too.
        let loadedFromEmpty = Set(plan.tables.map(\.name).filter { present[$0] == nil || restart.contains($0) })
        let deferral = try await SearchDeferral.prepare(target: targetDatabase, migrations: toApply, loadedFromEmpty: loadedFromEmpty)
        if let note = deferral.note { notes.append(note) }

        let batchSize = options.batchSize
        let frozenKeys = resumeKeys
        let logger = self.logger
        // Each table's search objects are built on a connection of their own while the next tables load.
        let (loadedTables, loaded) = AsyncStream.makeStream(of: LoadEvent.self)
        async let rebuilt: Void = Self.buildSearch(deferral, on: targetDatabase, asTablesLoad: loadedTables, progress: progress)
        let loading: Result<[TableCopyReport], any Error>
        do {
            loading = .success(try await sourceDatabase.withCopySnapshot { snapshot in
                try await targetDatabase.withCopyWriter { writer in
                    var reports: [TableCopyReport] = []
                    for table in plan.tables {
                        reports.append(
                            try await Self.copyTable(
                                table, from: snapshot, to: writer, resumeAfter: frozenKeys[table.name], batchSize: batchSize, progress: progress
                            )
                        )
                        loaded.yield(.loaded(table.name))
                    }
                    for table in plan.tables { try await writer.advanceSequences(table) }
                    loaded.yield(.allLoaded)
                    return reports
                }
            })
        } catch {
            loading = .failure(error)
        }
        loaded.finish()
        let building: Result<Void, any Error>
        do {
            try await rebuilt
            building = .success(())
        } catch {
            building = .failure(error)
        }
        if case .failure = loading, !deferral.isEmpty {
            logger.warning(
                "The copy stopped with full-text search of some tables not built yet; `dovetail db check` reports them missing until `db copy --resume` or `--truncate` builds them."
            )
        }
        var reports = try loading.get()
        try building.get()

        if options.verify {
            reports = try await verify(reports, plan: plan, source: sourceDatabase, target: targetDatabase, progress: progress)
        } else {
            notes.append("not verified (--no-verify)")
        }
        let report = DataCopyReport(
            operation: .copy, source: source.redacted, target: target.redacted, schemaVersion: version, batchSize: batchSize, tables: reports,
            verified: options.verify && reports.allSatisfy { $0.match == true }, seconds: start.duration(to: clock.now) / .seconds(1), notes: notes
        )
        if !report.mismatches.isEmpty {
            throw Self.verificationFailure(
                report, advice: "The target does not hold an exact copy: re-run with --truncate to copy again (or --resume if rows are only missing)."
            )
        }
        return report
    }

    /// Streams one table from the snapshot into the writer: a reading task (rows → checksum, rows after the
    /// resume key → pipe) and a writing task (pipe → batches committed one by one) run side by side.
    static func copyTable(
        _ table: CopyTable, from snapshot: any CopySnapshot, to writer: any CopyWriter, resumeAfter: [CopyValue]?, batchSize: Int,
        progress: @escaping @Sendable (CopyProgress) -> Void
    ) async throws -> TableCopyReport {
        let clock = ContinuousClock()
        let start = clock.now
        let total = try await snapshot.count(table.name)
        let counter = ProgressCounter()
        let name = table.name
        @Sendable func report(_ done: Int, finished: Bool = false) {
            progress(CopyProgress(phase: .copying, table: name, rowsDone: done, rowsTotal: total, elapsed: start.duration(to: clock.now), isFinished: finished))
        }
        report(0)
        let (checksum, kept) = try await pipeline(
            capacity: 2,
            produce: { (send: @Sendable (CopyBatch) async throws -> Void) async throws -> (TableChecksum, Int) in
                var hasher = RowHasher(table: table)
                var checksum = TableChecksum()
                var kept = 0
                var pastResumeKey = resumeAfter == nil
                try await snapshot.scan(table, batchSize: batchSize) { batch in
                    for row in 0..<batch.rowCount { checksum.add(try hasher.digest(batch, row: row)) }
                    var first = 0
                    if !pastResumeKey, let resumeAfter {
                        // Keys ascend, so the rows already present form a prefix of the scan.
                        while first < batch.rowCount, CopyValue.compareKeys(table.keyIndexes.map { batch[first, $0] }, resumeAfter) <= 0 { first += 1 }
                        pastResumeKey = first < batch.rowCount
                        kept += first
                        if first > 0 { report(counter.add(first)) }
                    }
                    if first == 0 {
                        try await send(batch)
                    } else if first < batch.rowCount {
                        var rest = CopyBatch(columnCount: batch.columnCount, capacity: batch.rowCount - first)
                        for row in first..<batch.rowCount { rest.append(row: batch.row(row)) }
                        try await send(rest)
                    }
                }
                return (checksum, kept)
            },
            consume: { receive in
                try await writer.write(table, batches: receive) { rows in report(counter.add(rows)) }
            }
        )
        let seconds = start.duration(to: clock.now) / .seconds(1)
        report(checksum.rows, finished: true)
        return TableCopyReport(
            table: table.name, rows: checksum.rows, copied: checksum.rows - kept, alreadyPresent: kept, seconds: seconds,
            verifySeconds: nil, sourceChecksum: checksum.hex, targetRows: nil, targetChecksum: nil, match: nil, firstDifference: nil
        )
    }

    /// What the loading side tells the search-building side.
    enum LoadEvent: Sendable {
        /// Every row of this table is in.
        case loaded(String)
        /// The load finished: objects of tables not named yet are built too.
        case allLoaded
    }

    /// Builds the deferred search objects of each table as `loadedTables` reports it loaded, one table at a time
    /// (the rest after `.allLoaded`). When the load fails, the stream ends without `.allLoaded` and the objects of
    /// tables not fully loaded stay missing, for `--resume` to build after finishing them. Stops at the first failure.
    static func buildSearch(
        _ deferral: SearchDeferral, on target: Database, asTablesLoad loadedTables: AsyncStream<LoadEvent>,
        progress: @escaping @Sendable (CopyProgress) -> Void
    ) async throws {
        var remaining = deferral.pending.keys.sorted()
        func build(_ table: String) async throws {
            guard let index = remaining.firstIndex(of: table) else { return }
            remaining.remove(at: index)
            let clock = ContinuousClock()
            let start = clock.now
            try await target.createSearchObjects(deferral.objects(of: table))
            progress(CopyProgress(phase: .indexing, table: table, rowsDone: 0, rowsTotal: 0, elapsed: start.duration(to: clock.now), isFinished: true))
        }
        for await event in loadedTables {
            switch event {
            case .loaded(let table):
                try await build(table)
            case .allLoaded:
                for table in remaining { try await build(table) }
            }
        }
    }

    /// Reads the target back, table by table, and fills in its counts, checksums and the first differing key.
    private func verify(
        _ reports: [TableCopyReport], plan: CopyPlan, source: Database, target: Database, progress: @escaping @Sendable (CopyProgress) -> Void
    ) async throws -> [TableCopyReport] {
        let batchSize = options.batchSize
        let targetSums = try await target.withCopySnapshot { snapshot in
            var sums: [(TableChecksum, Double)] = []
            for table in plan.tables {
                sums.append(try await TableComparison.checksum(table, in: snapshot, batchSize: batchSize, phase: .verifying, progress: progress))
            }
            return sums
        }
        var result = reports
        for (index, table) in plan.tables.enumerated() {
            let (checksum, seconds) = targetSums[index]
            result[index].targetRows = checksum.rows
            result[index].targetChecksum = checksum.hex
            result[index].verifySeconds = seconds
            let match = checksum.rows == result[index].rows && checksum.hex == result[index].sourceChecksum
            result[index].match = match
            if !match {
                result[index].firstDifference = try await TableComparison.firstDifference(table, source: source, target: target, batchSize: batchSize)
            }
        }
        return result
    }

    static func verificationFailure(_ report: DataCopyReport, advice: String) -> DataCopyError {
        let details = report.mismatches.map { report in
            "table \(report.table): source \(report.rows) rows (checksum \(report.sourceChecksum)), target \(report.targetRows ?? 0) rows "
                + "(checksum \(report.targetChecksum ?? "?")); first difference: \(report.firstDifference ?? "unknown")"
        }
        return DataCopyError(.verificationFailed, "Verification failed: " + details.joined(separator: "; ") + ". " + advice, report: report)
    }

    // MARK: Dry run

    private func dryRun(
        _ sourceDatabase: Database, version: Int, endpoints: Endpoints, progress: @escaping @Sendable (CopyProgress) -> Void
    ) async throws -> DataCopyReport {
        let clock = ContinuousClock()
        let start = clock.now
        var notes = ["dry run: nothing was written"]
        var targetCatalog: CopyCatalog?
        var nonEmpty: [String] = []
        if case .sqlite(.file(let path)) = target, !FileManager.default.fileExists(atPath: path) {
            notes.append("the target file does not exist yet: it would be created and migrated to schema version \(version)")
        } else {
            try await endpoints.with(target, role: "target", readOnly: true) { targetDatabase in
                let state = try await Migrator(database: targetDatabase, migrations: migrations).state()
                try Endpoints.checkTarget(state, sourceVersion: version, target: target)
                if state.currentVersion < version {
                    notes.append("the target would be migrated from schema version \(state.currentVersion) to \(version)")
                } else {
                    let catalog = try await targetDatabase.copyCatalog()
                    targetCatalog = catalog
                    let names = catalog.tables.map(\.name)
                    nonEmpty = try await targetDatabase.withCopySnapshot { snapshot in
                        var found: [String] = []
                        for name in names where try await snapshot.hasRows(name) { found.append(name) }
                        return found
                    }
                }
            }
        }
        let plan = try CopyPlan.make(source: try await sourceDatabase.copyCatalog(), target: targetCatalog)
        notes += plan.derived.map { "not copied, derived by each database: \($0)" }
        if !nonEmpty.isEmpty {
            let flag = options.truncate ? "--truncate would empty them first" : options.resume ? "--resume would keep them" : "the copy would be refused without --truncate or --resume"
            notes.append("the target already holds rows in \(nonEmpty.joined(separator: ", ")): \(flag)")
        }
        let batchSize = options.batchSize
        let reports = try await sourceDatabase.withCopySnapshot { snapshot in
            var reports: [TableCopyReport] = []
            for table in plan.tables {
                let (checksum, seconds) = try await TableComparison.checksum(table, in: snapshot, batchSize: batchSize, phase: .reading, progress: progress)
                reports.append(TableCopyReport(
                    table: table.name, rows: checksum.rows, copied: 0, alreadyPresent: 0, seconds: seconds, verifySeconds: nil,
                    sourceChecksum: checksum.hex, targetRows: nil, targetChecksum: nil, match: nil, firstDifference: nil
                ))
            }
            return reports
        }
        let report = DataCopyReport(
            operation: .dryRun, source: source.redacted, target: target.redacted, schemaVersion: version, batchSize: batchSize, tables: reports,
            verified: false, seconds: start.duration(to: clock.now) / .seconds(1), notes: notes
        )
        if !nonEmpty.isEmpty && !options.truncate && !options.resume {
            var refusal = DataCopyError.targetNotEmpty(nonEmpty, target: target.redacted)
            refusal.report = report
            throw refusal
        }
        return report
    }
}

/// Opening, checking and closing the two databases, shared by `db copy` and `db verify`.
struct Endpoints: Sendable {
    let pool: PoolSettings
    let waitTimeout: Duration
    let logger: Logger

    static func validate(source: DatabaseURL, target: DatabaseURL) throws {
        for (url, role) in [(source, "source"), (target, "target")] where url == .sqlite(.memory) {
            throw DataCopyError.invalid("The \(role) is sqlite:///:memory:, a database that exists only inside one process; name a file instead.")
        }
        if sameDatabase(source, target) {
            throw DataCopyError.invalid("The source and the target are the same database (\(source.redacted)); name two different databases.")
        }
    }

    static func sameDatabase(_ a: DatabaseURL, _ b: DatabaseURL) -> Bool {
        switch (a, b) {
        case (.sqlite(.file(let left)), .sqlite(.file(let right))):
            func resolved(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
            return resolved(left) == resolved(right)
        case (.postgres(let left), .postgres(let right)):
            return left.host.lowercased() == right.host.lowercased() && left.port == right.port && left.database == right.database
                && left.unixSocketDirectory == right.unixSocketDirectory
        default:
            return false
        }
    }

    /// Opens `url` (after waiting for a PostgreSQL server to answer), runs `body` and closes it again.
    func with<T: Sendable>(_ url: DatabaseURL, role: String, readOnly: Bool, _ body: (Database) async throws -> T) async throws -> T {
        if case .postgres = url {
            do {
                _ = try await DatabaseWaiter(timeout: waitTimeout).wait(for: url, logger: logger)
            } catch let error as StoreError {
                throw StoreError(.unavailable, "Cannot reach the \(role) database: \(error.message)")
            }
        }
        let database: Database
        do {
            database = try await Database.open(url, pool: pool, readOnly: readOnly, logger: logger)
        } catch let error as StoreError {
            throw StoreError(error.kind, "Cannot open the \(role) database: \(error.message)")
        }
        do {
            let result = try await body(database)
            await database.shutdown()
            return result
        } catch {
            await database.shutdown()
            throw error
        }
    }

    /// The source must be a Dovetail database at exactly this dovetail's schema version.
    static func checkSource(_ database: Database, migrations: [Migration]) async throws -> Int {
        let state = try await Migrator(database: database, migrations: migrations).state()
        let latest = migrations.last?.version ?? 0
        let url = database.url.redacted
        if state.applied.isEmpty {
            throw DataCopyError(.schema, "The source \(url) has no Dovetail schema (no applied migrations): there is nothing to copy. Check --from.")
        }
        if let newest = state.unknown.map(\.version).max() {
            throw DataCopyError(
                .schema, "The source \(url) is at schema version \(newest), newer than this dovetail knows (\(latest)); upgrade dovetail first."
            )
        }
        if !state.drifted.isEmpty {
            throw DataCopyError(
                .schema,
                "The source \(url) has migrations whose text changed after they ran (\(state.drifted.map { String($0.version) }.joined(separator: ", "))); "
                    + "run `dovetail db check --database-url '\(url)'` and fix the drift first."
            )
        }
        if !state.pending.isEmpty {
            throw DataCopyError(
                .schema,
                "The source \(url) is at schema version \(state.currentVersion), older than this dovetail's \(latest); "
                    + "migrate it first with `dovetail db migrate --database-url '\(url)'`, then copy."
            )
        }
        return state.currentVersion
    }

    static func checkTarget(_ state: MigrationState, sourceVersion: Int, target: DatabaseURL) throws {
        if let newest = state.unknown.map(\.version).max() {
            throw DataCopyError(
                .schema, "The target \(target.redacted) is at schema version \(newest), newer than the source's \(sourceVersion); copy into an older or empty database."
            )
        }
        if !state.drifted.isEmpty {
            throw DataCopyError(
                .schema,
                "The target \(target.redacted) has migrations whose text changed after they ran; run `dovetail db check` on it, or copy into a fresh database."
            )
        }
    }
}
