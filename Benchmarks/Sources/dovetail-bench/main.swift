import DovetailStore
import DovetailTesting
import Foundation
import Logging
import SQLKit

// Measures run-claim throughput (8 workers) and full-text search latency over 100,000 messages
// on SQLite and on PostgreSQL, in one process so the figures are comparable.
// Usage: dovetail-bench [--runs N] [--messages N] [--queries N]

func argument(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else { return value }
    return parsed
}

let runCount = argument("--runs", default: 2000)
let messageCount = argument("--messages", default: 100_000)
let queryCount = argument("--queries", default: 300)
var logger = Logger(label: "bench")
logger.logLevel = .error

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

func benchClaims(_ store: Store) async throws -> Double {
    let project = try await store.projects.create(NewProject(name: "bench-\(UUID().uuidString.prefix(8))"))
    let workflow = try await store.workflows.create(NewWorkflow(projectId: project.id, handle: "bench"))
    _ = try await store.workflows.publish(workflowId: workflow.id, definition: nil)
    for index in 0..<runCount { _ = try await store.runs.start(NewRun(workflowId: workflow.id, inputs: .object(["i": .integer(Int64(index))]))) }
    let clock = ContinuousClock()
    let start = clock.now
    let claimed = try await withThrowingTaskGroup(of: Int.self) { group in
        for worker in 0..<8 {
            group.addTask {
                var count = 0
                while let run = try await store.runs.claim(workerId: "w\(worker)", leaseSeconds: 60) {
                    _ = try await store.runs.finish(runId: run.id, RunCompletion(status: .succeeded))
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    precondition(claimed == runCount, "claimed \(claimed) of \(runCount)")
    return Double(claimed) / (milliseconds(start.duration(to: clock.now)) / 1000)
}

let vocabulary: [String] = {
    let roots = ["deploy", "agent", "migrat", "databas", "queri", "index", "vector", "token", "session", "workflow", "checkpoint", "plan",
                 "schedul", "retri", "cach", "stream", "event", "messag", "model", "prompt", "latenc", "throughput", "replica", "shard",
                 "backup", "restor", "upgrad", "config", "secret", "rotat", "alert", "metric", "trace", "log", "error", "timeout", "worker",
                 "lease", "claim", "batch", "copi", "verifi", "checksum", "search", "rank", "stem", "english", "parser", "compil", "test"]
    let suffixes = ["", "s", "ed", "ing", "er", "ion", "ions", "ly", "ment"]
    var words: [String] = []
    for root in roots { for suffix in suffixes { words.append(root + suffix) } }
    return words + (0..<1500).map { "w\($0)x" }
}()

func benchSearch(_ store: Store) async throws -> (p50: Double, p95: Double, hits: Double) {
    let project = try await store.projects.create(NewProject(name: "search-\(UUID().uuidString.prefix(8))"))
    var generator = SystemRandomNumberGenerator()
    let sessionCount = max(1, messageCount / 100)
    var sessions: [String] = []
    for index in 0..<sessionCount {
        sessions.append(try await store.sessions.create(NewSession(projectId: project.id, title: "Session \(index) \(vocabulary.randomElement(using: &generator)!)")).id)
    }
    // Bulk load through the store's own transaction, 500 rows a statement.
    let now = Timestamp.now()
    var ordinal = [String: Int64]()
    let batch = 500
    var inserted = 0
    while inserted < messageCount {
        let size = min(batch, messageCount - inserted)
        var rows: [(String, String, Int64, String)] = []
        for _ in 0..<size {
            let session = sessions.randomElement(using: &generator)!
            ordinal[session, default: 0] += 1
            let words = (0..<Int.random(in: 12...60, using: &generator)).map { _ in vocabulary.randomElement(using: &generator)! }
            rows.append((UUIDv7.generate(), session, ordinal[session]!, words.joined(separator: " ")))
        }
        let chunk = rows
        try await store.database.write { sql in
            var query = SQLQueryString("INSERT INTO messages (id, session_id, ordinal, role, content, metadata, created_at) VALUES ")
            for (index, row) in chunk.enumerated() {
                if index > 0 { query += ", " }
                query += "(\(bind: row.0), \(bind: row.1), \(bind: row.2), 'user', \(bind: row.3), \(bind: JSONDocument(.emptyObject)), \(bind: now))"
            }
            try await sql.raw(query).run()
        }
        inserted += size
    }
    let lastOrdinals = ordinal
    try await store.database.write { sql in
        for (session, last) in lastOrdinals { try await sql.raw("UPDATE sessions SET last_message_ordinal = \(bind: last) WHERE id = \(bind: session)").run() }
    }
    if store.dialect == .postgres { try await store.database.withAnalyze() }
    var timings: [Double] = []
    var totalHits = 0
    let clock = ContinuousClock()
    for index in 0..<queryCount {
        let query = index.isMultiple(of: 2)
            ? vocabulary[index % 450]
            : "\(vocabulary[index % 450]) \(vocabulary[(index * 7) % 450])"
        let start = clock.now
        totalHits += try await store.search.search(query, projectId: project.id, limit: 20).count
        timings.append(milliseconds(start.duration(to: clock.now)))
    }
    return (percentile(timings, 0.5), percentile(timings, 0.95), Double(totalHits) / Double(queryCount))
}

extension Database {
    func withAnalyze() async throws {
        try await write { sql in try await sql.raw("ANALYZE").run() }
    }
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dovetail-bench-\(UUID().uuidString)")
try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: directory) }
let server = try await PostgresTestServer.startDedicated()
var pool = PoolSettings()
pool.size = 16
pool.maxOverflow = 0
let backends: [(String, DatabaseURL)] = [
    ("sqlite", .sqlite(.file(path: directory.appendingPathComponent("bench.db").path))),
    ("postgres", try DatabaseURL(parsing: try await server.createDatabase())),
]
print("dovetail-bench: \(runCount) runs, \(messageCount) messages, \(queryCount) queries")
print("backend   | claims/s (8 workers) | search p50 ms | search p95 ms | hits/query")
for (name, url) in backends {
    let store = try await Store.open(url, pool: pool, logger: logger)
    try await store.migrator.migrate(logger: logger)
    let claims = try await benchClaims(store)
    let search = try await benchSearch(store)
    print(String(format: "%-9@ | %20.0f | %13.2f | %13.2f | %10.1f", name as NSString, claims, search.p50, search.p95, search.hits))
    await store.shutdown()
}
await server.destroy()
