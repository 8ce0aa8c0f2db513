import Crypto
import DovetailStore
import DovetailTesting
import Foundation
import SQLKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `dovetail db copy` and `db verify` as a user runs them: the real binary, real databases.
@Suite("dovetail db copy")
struct DBCopyCLITests {
    static func urlString(_ url: DatabaseURL) -> String {
        switch url {
        case .sqlite(.file(let path)): "sqlite:///" + path
        case .postgres(let info): info.urlString
        case .sqlite(.memory): "sqlite:///:memory:"
        }
    }

    static func open(_ url: DatabaseURL) async throws -> Database {
        try await Database.open(url, logger: TestSupport.logger)
    }

    static func count(_ database: Database, _ table: String) async throws -> Int {
        try await database.read { sql in
            try await sql.raw("SELECT count(*) AS n FROM \(ident: table)").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    static func digest(of path: String) throws -> String {
        SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path))).map { String(format: "%02x", $0) }.joined()
    }

    /// A migrated SQLite file with `messages` bulk rows.
    static func seededSource(messages: Int, size: Int) async throws -> (url: DatabaseURL, path: String, directory: URL) {
        let directory = try CLIRunner.temporaryDirectory()
        let path = directory.appendingPathComponent("source.db").path
        let url = DatabaseURL.sqlite(.file(path: path))
        let database = try await open(url)
        do {
            try await Migrator(database: database).migrate(logger: TestSupport.logger)
            try await CopyFixtures.seedEdgeCases(database)
            try await CopyFixtures.seedBulk(database, messages: messages, size: size)
        } catch {
            await database.shutdown()
            throw error
        }
        await database.shutdown()
        return (url, path, directory)
    }

    @Test
    func copyVerifyAndCatchAChangedRow() async throws {
        let source = try await Self.seededSource(messages: 500, size: 100)
        defer { try? FileManager.default.removeItem(at: source.directory) }
        try await TestSupport.withDatabaseURL(.postgres) { target in
            let cli = CLIRunner(directory: source.directory)
            let to = Self.urlString(target)
            let copy = try await cli.run("db", "copy", "--from", "sqlite:///" + source.path, "--to", to, "--json", "--batch-size", "64")
            #expect(copy.status == 0, "\(copy.all)")
            let report = try JSONSerialization.jsonObject(with: Data(copy.stdout.utf8)) as? [String: Any]
            #expect(report?["verified"] as? Bool == true)
            #expect(report?["total_rows"] as? Int == 515)
            let tables = report?["tables"] as? [[String: Any]] ?? []
            #expect(tables.first { $0["table"] as? String == "messages" }?["match"] as? Bool == true)
            #expect(copy.stderr.contains("copied messages: 503/503 rows"), "plain progress lines when not on a terminal: \(copy.stderr)")
            if case .postgres(let info) = target, let password = info.password {
                #expect(!copy.all.contains(password), "the password never appears")
            }

            let verify = try await cli.run("db", "verify", "--from", "sqlite:///" + source.path, "--to", to)
            #expect(verify.status == 0, "\(verify.all)")
            #expect(verify.stdout.contains("The two databases hold the same rows."))

            let database = try await Self.open(target)
            try await database.write { sql in try await sql.raw("UPDATE messages SET content = 'changed' WHERE id = 'msg-00000042'").run() }
            await database.shutdown()
            let changed = try await cli.run("db", "verify", "--from", "sqlite:///" + source.path, "--to", to)
            #expect(changed.status == 1)
            #expect(changed.stderr.contains("table messages"), "\(changed.all)")
            #expect(changed.stderr.contains("row id=msg-00000042 differs"), "\(changed.all)")
            #expect(changed.stdout.contains("MISMATCH messages"))

            let refused = try await cli.run("db", "copy", "--from", "sqlite:///" + source.path, "--to", to)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("--resume") && refused.stderr.contains("--truncate"))

            let back = source.directory.appendingPathComponent("back.db").path
            let rollback = try await cli.run("db", "copy", "--from", to, "--to", "sqlite:///" + back, "--no-verify")
            #expect(rollback.status == 0, "\(rollback.all)")
            #expect(rollback.stdout.contains("not verified"))
        }
    }

    @Test
    func dryRunAndUnreachableTarget() async throws {
        let source = try await Self.seededSource(messages: 10, size: 50)
        defer { try? FileManager.default.removeItem(at: source.directory) }
        let cli = CLIRunner(directory: source.directory)
        let target = source.directory.appendingPathComponent("target.db").path
        let dryRun = try await cli.run("db", "copy", "--from", "sqlite:///" + source.path, "--to", "sqlite:///" + target, "--dry-run")
        #expect(dryRun.status == 0, "\(dryRun.all)")
        #expect(dryRun.stdout.contains("Dry run"))
        #expect(dryRun.stdout.contains("note: dry run: nothing was written"))
        #expect(!FileManager.default.fileExists(atPath: target))

        let unreachable = "postgresql://dovetail:hunter2-secret@127.0.0.1:\(try TestSupport.freePort())/dovetail"
        let outcome = try await cli.run("db", "copy", "--from", "sqlite:///" + source.path, "--to", unreachable, "--wait-timeout", "1")
        #expect(outcome.status == 3, "\(outcome.all)")
        #expect(outcome.stderr.contains("Cannot reach the target"))
        #expect(!outcome.all.contains("hunter2"))

        let bad = try await cli.run("db", "copy", "--from", "sqlite:///" + source.path, "--to", "mysql://u:topsecret@h/db")
        #expect(bad.status == 2)
        #expect(!bad.all.contains("topsecret"))
    }

    /// The copy process is killed with SIGKILL in the middle of `messages`; a plain re-run is refused, and
    /// `--resume` finishes the job: every row exactly once, verified, the source file unchanged.
    @Test
    func resumeAfterTheCopyWasKilledMidTable() async throws {
        let total = 40_000
        let source = try await Self.seededSource(messages: total, size: 400)
        defer { try? FileManager.default.removeItem(at: source.directory) }
        let sourceDigest = try Self.digest(of: source.path)
        try await TestSupport.withDatabaseURL(.postgres) { target in
            let cli = CLIRunner(directory: source.directory)
            let arguments = ["db", "copy", "--from", "sqlite:///" + source.path, "--to", Self.urlString(target), "--batch-size", "50"]
            let (process, _, _) = cli.makeProcess(arguments)
            try process.run()
            let database = try await Self.open(target)
            var copiedBeforeKill = 0
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(120)
            while clock.now < deadline, process.isRunning {
                // The schema may not exist yet while the target is being migrated.
                let done = (try? await Self.count(database, "messages")) ?? 0
                if done >= 1_000 && done < total / 2 {
                    kill(process.processIdentifier, SIGKILL)
                    copiedBeforeKill = done
                    break
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "the copy must be killed mid-table, not finish first")
            // A batch whose end the killed client had already sent is still committed by the server: count only
            // once no COPY of the killed process is running any more.
            for _ in 0..<200 {
                let running = try await database.read { sql in
                    try await sql.raw("""
                        SELECT count(*) AS n FROM pg_stat_activity
                        WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle' AND query ILIKE 'COPY%'
                        """).first()?.decode(column: "n", as: Int.self) ?? 0
                }
                if running == 0 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let leftBehind = try await Self.count(database, "messages")
            #expect(leftBehind >= copiedBeforeKill && leftBehind < total)
            #expect(leftBehind % 50 == 0, "only whole batches are committed")

            let plain = try await cli.run(arguments)
            #expect(plain.status == 1)
            #expect(plain.stderr.contains("--resume"))

            // Killed while full-text search was deferred: `db check` must not call the schema fine.
            let checkArguments = ["db", "check", "--database-url", Self.urlString(target)]
            let interrupted = try await cli.run(checkArguments)
            #expect(interrupted.status == 1, "\(interrupted.all)")
            #expect(interrupted.stdout.contains("full-text search index messages_search_idx on messages is missing"), "\(interrupted.all)")
            #expect(interrupted.stdout.contains("db copy --resume"))

            let resumed = try await cli.run(arguments + ["--resume", "--json"])
            #expect(resumed.status == 0, "\(resumed.all)")
            let report = try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any]
            #expect(report?["verified"] as? Bool == true)
            let messages = (report?["tables"] as? [[String: Any]])?.first { $0["table"] as? String == "messages" }
            #expect(messages?["already_present"] as? Int == leftBehind)
            #expect(messages?["copied"] as? Int == total + 3 - leftBehind)
            #expect(try await Self.count(database, "messages") == total + 3)
            // --resume built the search: the schema is the migrated one again, and search finds copied rows.
            let checked = try await cli.run(checkArguments)
            #expect(checked.status == 0, "\(checked.all)")
            #expect(!(try await SearchRepository(database: database).search("lorem")).isEmpty)
            await database.shutdown()
        }
        #expect(try Self.digest(of: source.path) == sourceDigest, "the source file must not change")
    }
}

extension CLIRunner {
    func run(_ arguments: [String]) async throws -> Outcome {
        let (process, out, err) = makeProcess(arguments)
        try process.run()
        let stdout = Task { await TestSupport.blocking { out.fileHandleForReading.readDataToEndOfFile() } }
        let stderr = Task { await TestSupport.blocking { err.fileHandleForReading.readDataToEndOfFile() } }
        let outData = await stdout.value
        let errData = await stderr.value
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}
