import ArgumentParser
import DovetailOps
import DovetailStore
import Foundation

/// Options `db copy` and `db verify` share.
struct CopyEndpointOptions: ParsableArguments {
    @Option(help: "The database to read, e.g. sqlite:///./data/dovetail.db. Opened read-only, never modified.")
    var from: String

    @Option(help: "The other database, e.g. postgresql://user:password@host:5432/dovetail.")
    var to: String

    @Option(name: .customLong("batch-size"), help: "Rows per batch: one transaction (SQLite) or COPY statement (PostgreSQL) each.")
    var batchSize: Int = DataCopyOptions.defaultBatchSize

    @Option(name: .customLong("wait-timeout"), help: "Seconds to wait for a PostgreSQL server to answer.")
    var waitTimeout: Double = 10

    @Flag(help: "Print the summary as JSON (progress still goes to standard error).")
    var json = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1.") }
        guard waitTimeout >= 0 else { throw ValidationError("--wait-timeout cannot be negative.") }
    }

    func urls() throws -> (DatabaseURL, DatabaseURL) {
        do {
            return (try DatabaseURL(parsing: from, label: "--from URL"), try DatabaseURL(parsing: to, label: "--to URL"))
        } catch {
            throw CLIFailure("configuration error: \(error.message)", code: 2)
        }
    }

    var timeout: Duration { .milliseconds(Int64(waitTimeout * 1000)) }
}

extension DB {
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every Dovetail table between SQLite and PostgreSQL (either way), then verify the copy.",
            discussion: """
                The target is migrated to the source's schema version first. Tables are copied in foreign-key order, in batches \
                that are each committed on their own; an interrupted copy can be finished with --resume or redone with --truncate. \
                Afterwards both sides are read back and compared table by table (row counts and checksums).
                """
        )

        @OptionGroup var endpoints: CopyEndpointOptions

        @Flag(inversion: .prefixedNo, help: "Read the target back and compare row counts and checksums with the source.")
        var verify = true

        @Flag(name: .customLong("dry-run"), help: "Read the source, compute counts and checksums and print the plan; write nothing.")
        var dryRun = false

        @Flag(help: "Empty the target's tables first.")
        var truncate = false

        @Flag(help: "Finish an interrupted copy: keep the rows already in the target and copy the rest.")
        var resume = false

        func validate() throws {
            if truncate && resume { throw ValidationError("--truncate and --resume cannot be combined: --truncate starts over, --resume keeps what is there.") }
        }

        func run() async throws {
            try await CLI.run {
                let (source, target) = try endpoints.urls()
                let options = DataCopyOptions(
                    batchSize: endpoints.batchSize, verify: verify, dryRun: dryRun, truncate: truncate, resume: resume, waitTimeout: endpoints.timeout
                )
                let copier = DataCopier(from: source, to: target, options: options, pool: CopySupport.pool, logger: CLI.makeLogger("dovetail.copy"))
                let display = CopyProgressDisplay()
                FileHandle.standardError.write(Data("\(dryRun ? "Planning a copy" : "Copying") \(source.redacted) → \(target.redacted)\n".utf8))
                do {
                    let report = try await copier.run(progress: display.update)
                    display.finish()
                    try CopySupport.print(report, json: endpoints.json)
                } catch let error as CopyRowError {
                    display.finish()
                    throw CLIFailure(
                        "\(error.description). Nothing was committed for this batch; the target holds the rows copied before it. "
                            + "Fix the row in the source and re-run with --resume, or start over with --truncate.",
                        code: 1
                    )
                } catch let error as DataCopyError {
                    display.finish()
                    if let report = error.report { try CopySupport.print(report, json: endpoints.json) }
                    throw CLIFailure(error.message, code: 1)
                } catch let error as StoreError where !dryRun && display.sawProgress {
                    display.finish()
                    throw CLIFailure(
                        "\(error.message) The copy stopped part-way: the target holds whole batches only. "
                            + "Re-run with --resume to finish it, or with --truncate to start over.",
                        code: error.kind == .unavailable ? 3 : 1
                    )
                } catch {
                    display.finish()
                    throw error
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare two databases table by table (row counts and checksums); exits 1 naming the first differing key."
        )

        @OptionGroup var endpoints: CopyEndpointOptions

        func run() async throws {
            try await CLI.run {
                let (source, target) = try endpoints.urls()
                let verifier = DataVerifier(
                    from: source, to: target, batchSize: endpoints.batchSize, waitTimeout: endpoints.timeout, pool: CopySupport.pool,
                    logger: CLI.makeLogger("dovetail.verify")
                )
                let display = CopyProgressDisplay()
                do {
                    let report = try await verifier.run(progress: display.update)
                    display.finish()
                    try CopySupport.print(report, json: endpoints.json)
                } catch let error as DataCopyError {
                    display.finish()
                    if let report = error.report { try CopySupport.print(report, json: endpoints.json) }
                    throw CLIFailure(error.message, code: 1)
                } catch {
                    display.finish()
                    throw error
                }
            }
        }
    }
}

enum CopySupport {
    /// A copy needs a few connections per side, not a server's pool.
    static let pool = PoolSettings(size: 2, maxOverflow: 2)

    static func print(_ report: DataCopyReport, json: Bool) throws {
        if json {
            Swift.print(try report.json())
        } else {
            Swift.print(summary(report))
        }
    }

    /// The final summary table: rows, seconds and whether the checksums match, per table.
    static func summary(_ report: DataCopyReport) -> String {
        let verb: String
        switch report.operation {
        case .copy: verb = "Copied"
        case .dryRun: verb = "Dry run of a copy from"
        case .verify: verb = "Compared"
        }
        var lines = ["\(verb) \(report.source) → \(report.target) (schema version \(report.schemaVersion), batches of \(report.batchSize) rows)"]
        let headers = ["table", "rows", report.operation == .copy ? "copied" : "target rows", "seconds", "rows/s", "checksum", "match"]
        var rows: [[String]] = []
        for table in report.tables {
            let seconds = table.seconds + (table.verifySeconds ?? 0)
            rows.append([
                table.table,
                String(table.rows),
                report.operation == .copy ? String(table.copied) : table.targetRows.map(String.init) ?? "-",
                String(format: "%.2f", seconds),
                table.seconds > 0 ? String(Int(Double(table.rows) / table.seconds)) : "-",
                table.sourceChecksum,
                table.match.map { $0 ? "yes" : "NO" } ?? "-",
            ])
        }
        let total = report.tables.reduce(0.0) { $0 + $1.seconds }
        let matched = report.tables.filter { $0.match == true }.count
        rows.append([
            "total", String(report.totalRows), report.operation == .copy ? String(report.tables.reduce(0) { $0 + $1.copied }) : "",
            String(format: "%.2f", report.seconds), total > 0 ? String(Int(Double(report.totalRows) / total)) : "-", "",
            report.tables.contains { $0.match != nil } ? "\(matched)/\(report.tables.count)" : "-",
        ])
        let widths = headers.indices.map { column in ([headers] + rows).map { $0[column].count }.max() ?? 0 }
        func format(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let padding = String(repeating: " ", count: widths[index] - cell.count)
                return index == 0 || index == 5 ? cell + padding : padding + cell
            }.joined(separator: "  ")
        }
        lines.append(format(headers))
        lines += rows.map(format)
        for table in report.tables where table.match == false {
            lines.append("MISMATCH \(table.table): target \(table.targetRows ?? 0) rows, checksum \(table.targetChecksum ?? "?"); \(table.firstDifference ?? "")")
        }
        lines += report.notes.map { "note: \($0)" }
        switch report.operation {
        case .copy where report.verified: lines.append("Verified: every table matches.")
        case .verify where report.verified: lines.append("The two databases hold the same rows.")
        default: break
        }
        return lines.joined(separator: "\n")
    }
}
