import DovetailStore
import Hummingbird

/// The health routes, open to anonymous callers (load balancers, orchestrators, `dovetail health`):
///
/// - `GET /health`: the backend, the version, the schema version and one database round trip. Anonymous
///   callers learn only the status and the backend; the version, where the database lives and its schema are
///   for callers with a read token (or any caller when authentication is off). The server is named only
///   through the redacted URL, never with its password.
/// - `GET /health/live` (liveness): 200 while the process serves requests. It never touches the database, so an
///   orchestrator does not restart every replica because PostgreSQL is down, which restarting cannot fix.
/// - `GET /health/ready` (readiness): 200 when the database answers and no migration is pending, else 503
///   problem+json with `Retry-After`, so traffic goes only to replicas that can serve it. A database migrated
///   past what this binary knows stays ready: during a rolling upgrade the old replicas keep serving the
///   (backward-compatible) newer schema until they are replaced; `serve` refuses to *start* on one.
struct HealthController {
    let store: Store

    struct Health: Encodable {
        var status: String
        var backend: String
        var version: String?
        var database: String?
        var schemaVersion: Int?
        var latestSchemaVersion: Int?
        var pendingMigrations: Int?
        var roundTripMs: Double?

        enum CodingKeys: String, CodingKey {
            case status, backend, version, database
            case schemaVersion = "schema_version"
            case latestSchemaVersion = "latest_schema_version"
            case pendingMigrations = "pending_migrations"
            case roundTripMs = "round_trip_ms"
        }
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("health") { _, context in
            let roundTrip = try await store.database.ping()
            let state = try await store.migrator.state()
            var health = Health(status: state.pending.isEmpty ? "ok" : "migrations_pending", backend: store.dialect.rawValue)
            if context.caller.mayRead {
                health.version = DovetailVersion.current
                health.database = store.database.url.redacted
                health.schemaVersion = state.currentVersion
                health.latestSchemaVersion = Migrations.latestVersion
                health.pendingMigrations = state.pending.count
                health.roundTripMs = Self.milliseconds(roundTrip)
            }
            return try APIJSON.response(health)
        }
        router.get("health/live") { _, _ in
            try APIJSON.response(ProbeAnswer(status: "ok"))
        }
        router.get("health/ready") { _, context in
            let state: MigrationState
            do {
                _ = try await store.database.ping()
                state = try await store.migrator.state()
            } catch let error as StoreError {
                // Where the database lives is for callers who may read; anonymous probes learn only that it is down.
                let detail = context.caller.mayRead ? error.message : "The database does not answer."
                throw Problem(status: .serviceUnavailable, slug: "database-unavailable", detail: detail, retryAfter: Self.retryAfter)
            }
            if !state.pending.isEmpty {
                throw Problem(
                    status: .serviceUnavailable, slug: "migrations-pending",
                    detail: "\(state.pending.count) migration(s) pending; run `dovetail db migrate` (or `dovetail serve` without --no-migrate).",
                    retryAfter: Self.retryAfter
                )
            }
            return try APIJSON.response(ProbeAnswer(status: "ok"))
        }
    }

    /// The answer of the liveness and readiness routes when they succeed.
    struct ProbeAnswer: Encodable {
        var status: String
    }

    /// Seconds a caller should wait before asking readiness again: about a probe period.
    static let retryAfter = 5

    /// Milliseconds with microsecond resolution (an attosecond is 10⁻¹⁸ s, so 10¹⁵ of them make a millisecond).
    static func milliseconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return (Double(parts.seconds) * 1000 + Double(parts.attoseconds / 1_000_000_000) / 1_000_000).rounded(toPlaces: 3)
    }
}

extension Double {
    fileprivate func rounded(toPlaces places: Int) -> Double {
        var factor = 1.0
        for _ in 0..<places { factor *= 10 }
        return (self * factor).rounded() / factor
    }
}
