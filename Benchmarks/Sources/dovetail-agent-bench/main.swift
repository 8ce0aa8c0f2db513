import DovetailOps
import DovetailStore
import DovetailTesting
import Foundation
import Logging
import PostgresNIO

// Agent database provisioning: N agents deployed C at a time against a throwaway local PostgreSQL, by
// PostgresAgentProvisioner (provisioning only, no launch command) with a warm spare pool sized to the burst,
// with the default pool, with no pool, re-deployed, and by the reference document's approach (its sequence of
// `psql -c` statements per agent, run by a shell script), in the same run on the same server.
// Benchmarks/agent-provisioning describes each phase.
// Usage: dovetail-agent-bench [--agents 100] [--concurrency 10]

func argument(_ name: String, default value: Int) -> Int {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let parsed = Int(arguments[index + 1]) else { return value }
    return parsed
}

let agentCount = argument("--agents", default: 100)
let concurrency = argument("--concurrency", default: 10)
var logger = Logger(label: "bench")
logger.logLevel = .error

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))]
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// Runs `job(i)` for i in 0..<count, `concurrency` at a time; returns each job's time in ms and the wall time.
func measure(_ count: Int, _ job: @escaping @Sendable (Int) async throws -> Void) async throws -> (times: [Double], wall: Double) {
    let clock = ContinuousClock()
    let start = clock.now
    let times = try await withThrowingTaskGroup(of: Double.self) { group in
        var next = 0
        var times: [Double] = []
        func add() {
            let index = next
            next += 1
            group.addTask {
                let begin = clock.now
                try await job(index)
                return milliseconds(begin.duration(to: clock.now))
            }
        }
        while next < min(concurrency, count) { add() }
        while let time = try await group.next() {
            times.append(time)
            if next < count { add() }
        }
        return times
    }
    return (times, milliseconds(start.duration(to: clock.now)))
}

func findPsql() -> String? {
    var candidates = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.sorted(by: >).map { "/usr/lib/postgresql/\($0)/bin" } ?? []
    candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/psql") }
}

/// The reference document's init-container script, verbatim but for the container: pg_isready, then one psql per statement.
let referenceScript = #"""
until pg_isready -q; do
  echo "Waiting for PostgreSQL to be ready..."
  sleep 2
done
echo "Creating agent database..."
psql -c "CREATE USER \"$DATABASE_USER\" WITH LOGIN PASSWORD '$DATABASE_PASSWORD';" || echo "User already exists"
psql -c "CREATE DATABASE \"$DATABASE_NAME\";" || echo "Database already exists"
psql -c "GRANT ALL PRIVILEGES ON DATABASE \"$DATABASE_NAME\" TO \"$DATABASE_USER\";" || true
psql -d "$DATABASE_NAME" -c "GRANT USAGE ON SCHEMA public TO \"$DATABASE_USER\";" || true
psql -d "$DATABASE_NAME" -c "GRANT CREATE ON SCHEMA public TO \"$DATABASE_USER\";" || true
psql -d "$DATABASE_NAME" -c "GRANT ALL ON ALL TABLES IN SCHEMA public TO \"$DATABASE_USER\";" || true
psql -d "$DATABASE_NAME" -c "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO \"$DATABASE_USER\";" || true
psql -d "$DATABASE_NAME" -c "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO \"$DATABASE_USER\";" || true
psql -d "$DATABASE_NAME" -c "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO \"$DATABASE_USER\";" || true
echo "Database initialization complete"
"""#

func runScript(_ script: String, environment: [String: String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    process.environment = environment
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw AgentDatabaseError(.launch, "reference script exited \(process.terminationStatus)") }
}

func createAdmin(_ superuser: PostgresConnectionInfo, password: String) async throws {
    let connection = try await PostgresConnection.connect(configuration: try superuser.connectionConfiguration(), id: 1, logger: logger)
    try await connection.query(
        PostgresQuery(unsafeSQL: "CREATE ROLE bench_admin LOGIN CREATEDB CREATEROLE PASSWORD \(PostgresAgentProvisioner.quoteLiteral(password))"),
        logger: logger
    )
    try await connection.close()
}

/// Counts deploys that claimed a spare, across the concurrent jobs.
actor Counter {
    private(set) var value = 0
    func add() { value += 1 }
}

/// The background refills the default-pool phase starts, awaited before the next phase so they cannot skew it.
actor RefillTasks {
    private var tasks: [Task<Void, Never>] = []
    func add(_ task: Task<Void, Never>) { tasks.append(task) }
    func waitForAll() async {
        for task in tasks { await task.value }
    }
}

let server = try await PostgresTestServer.startDedicated()
do {
    let superuser = PostgresConnectionInfo(
        host: server.host, port: server.port, username: server.superuser, password: server.superuserPassword, database: "postgres", sslMode: .disable
    )
    // A realistic admin: not a superuser, just CREATEDB and CREATEROLE.
    let adminPassword = "bench 'admin' p@ss"
    try await createAdmin(superuser, password: adminPassword)
    let dataDirectory = FileManager.default.temporaryDirectory.path + "/dovetail-agent-bench-\(UUID().uuidString)"
    /// One namespace per phase, so one phase's spares are never another's.
    func configuration(namespace: String, spares: Int) throws -> AgentDatabaseConfiguration {
        try AgentDatabaseConfiguration(environment: [
            "USE_POSTGRESQL_FOR_AGENTS": "true", "AGENT_DB_HOST": server.host, "AGENT_DB_PORT": String(server.port),
            "AGENT_DB_ADMIN_USER": "bench_admin", "AGENT_DB_ADMIN_PASSWORD": adminPassword, "NAMESPACE": namespace,
            "DOVETAIL_DATA_DIR": dataDirectory, "AGENT_DB_SPARE_DATABASES": String(spares),
        ])
    }
    let defaultPool = AgentDatabaseConfiguration.defaultSpareDatabases
    let burstPool = concurrency
    _ = try await configuration(namespace: "warmup", spares: 0).makeProvisioner().provision(agentId: "warmup", logger: logger)

    print("Provisioning \(agentCount) agents, \(concurrency) at a time, PostgreSQL on 127.0.0.1:\(server.port)")

    // 1. A warm pool sized to the burst: before each burst of `concurrency` deploys the pool is refilled to
    //    `concurrency` (not timed: `dovetail serve` refills in the background between bursts), then the burst is timed.
    let warm = try configuration(namespace: "benchwarm", spares: burstPool).makeProvisioner()
    let spareCounter = Counter()
    var warmTimes: [Double] = []
    var warmWall = 0.0
    var refillTimes: [Double] = []
    for batch in stride(from: 0, to: agentCount, by: concurrency) {
        let clock = ContinuousClock()
        let refillStart = clock.now
        try await warm.refillSpares(logger: logger)
        refillTimes.append(milliseconds(refillStart.duration(to: clock.now)))
        let size = min(concurrency, agentCount - batch)
        let result = try await measure(size) { index in
            let database = try await warm.provision(agentId: "dovetail-\(batch + index)", logger: logger)
            if database.fromSpare { await spareCounter.add() }
        }
        warmTimes += result.times
        warmWall += result.wall
    }
    let warmSpares = await spareCounter.value

    // 2. The default pool, refilled as `dovetail serve` does: a background refill after every deploy that made a
    //    database, one at a time per process (later requests fold into the running one). Most deploys of a burst
    //    find no spare and fall back to CREATE DATABASE while the refill's own CREATE DATABASE competes with them.
    let pooled = try configuration(namespace: "benchdefault", spares: defaultPool).makeProvisioner()
    try await pooled.refillSpares(logger: logger)
    let defaultCounter = Counter()
    let refills = RefillTasks()
    let defaultResult = try await measure(agentCount) { index in
        let database = try await pooled.provision(agentId: "dovetail-\(index)", logger: logger)
        if database.fromSpare { await defaultCounter.add() }
        if database.created { await refills.add(Task { try? await pooled.refillSpares(logger: logger) }) }
    }
    await refills.waitForAll()
    let defaultSpares = await defaultCounter.value

    // 3. No pool (AGENT_DB_SPARE_DATABASES=0): every first deploy runs CREATE DATABASE, as before the pool existed.
    let unpooled = try configuration(namespace: "benchnone", spares: 0).makeProvisioner()
    let unpooledResult = try await measure(agentCount) { index in
        _ = try await unpooled.provision(agentId: "dovetail-\(index)", logger: logger)
    }

    // 4. Re-deploy the warm-pool agents: everything exists.
    let redeploy = try await measure(agentCount) { index in
        _ = try await warm.provision(agentId: "dovetail-\(index)", logger: logger)
    }

    var reference: (times: [Double], wall: Double)?
    if let bin = findPsql() {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = bin + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["PGHOST"] = server.host
        environment["PGPORT"] = String(server.port)
        environment["PGUSER"] = server.superuser
        environment["PGPASSWORD"] = server.superuserPassword
        environment["PGDATABASE"] = "postgres"
        environment["DATABASE_PASSWORD"] = "agent_password"
        let base = environment
        reference = try await measure(agentCount) { index in
            var environment = base
            environment["DATABASE_USER"] = "psql_\(index)_agent"
            environment["DATABASE_NAME"] = "psql_\(index)_agent"
            let scriptEnvironment = environment
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                DispatchQueue.global().async {
                    do {
                        try runScript(referenceScript, environment: scriptEnvironment)
                        continuation.resume()
                    } catch {
                        continuation.resume(throwing: error)
                    }
                }
            }
        }
    } else {
        print("psql not found: the reference script was not run (apt-get install postgresql-client)")
    }

    func row(_ name: String, _ result: (times: [Double], wall: Double)) -> String {
        let median = percentile(result.times, 0.5)
        let p95 = percentile(result.times, 0.95)
        return "| \(name) | \(String(format: "%.1f", median)) | \(String(format: "%.1f", p95)) | \(String(format: "%.0f", result.wall)) |"
    }
    print("")
    print("| approach (\(agentCount) agents, \(concurrency) at a time) | median ms/agent | p95 ms/agent | wall ms | from a spare |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(row("first deploy, warm pool of \(burstPool) (= burst) refilled between bursts", (warmTimes, warmWall)) + " \(warmSpares)/\(agentCount) |")
    print(row("first deploy, default pool of \(defaultPool), background refill", defaultResult) + " \(defaultSpares)/\(agentCount) |")
    print(row("first deploy, no pool (AGENT_DB_SPARE_DATABASES=0)", unpooledResult) + " 0/\(agentCount) |")
    print(row("re-deploy, all exist", redeploy) + " – |")
    if let reference { print(row("reference psql script (pg_isready + 9 × psql -c)", reference) + " – |") }
    print("")
    print(
        "refill of the warm pool between bursts (\(burstPool) × CREATE DATABASE, one session): median \(String(format: "%.0f", percentile(refillTimes, 0.5))) ms, "
            + "max \(String(format: "%.0f", refillTimes.max() ?? 0)) ms (the first refill fills an empty pool)"
    )
    func verdict(_ name: String, _ times: [Double]) {
        let median = percentile(times, 0.5)
        var line = "\(name): median \(String(format: "%.1f", median)) ms → target < 150 ms \(median < 150 ? "met" : "MISSED")"
        if let reference {
            let ratio = percentile(reference.times, 0.5) / median
            line += "; \(String(format: "%.1f", ratio))× faster than the psql script → target ≥ 5× \(ratio >= 5 ? "met" : "MISSED")"
        }
        print(line)
    }
    verdict("warm pool of \(burstPool)", warmTimes)
    verdict("default pool of \(defaultPool)", defaultResult.times)
    verdict("no pool", unpooledResult.times)
    verdict("re-deploy", redeploy.times)
    try? FileManager.default.removeItem(atPath: dataDirectory)
} catch {
    await server.destroy()
    print("benchmark failed: \(error)")
    exit(1)
}
await server.destroy()
