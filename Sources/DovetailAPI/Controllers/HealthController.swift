import DovetailStore
import Hummingbird

/// `GET /health`: the backend, the schema version and one database round trip. It is open to
/// anonymous callers (load balancers), who learn only the status and the backend; where the database
/// lives and its schema are for callers with a read token (or any caller when authentication is off).
/// The server is named only through the redacted URL, never with its password.
struct HealthController {
    let store: Store

    struct Health: Encodable {
        var status: String
        var backend: String
        var database: String?
        var schemaVersion: Int?
        var latestSchemaVersion: Int?
        var pendingMigrations: Int?
        var roundTripMs: Double?

        enum CodingKeys: String, CodingKey {
            case status, backend, database
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
                health.database = store.database.url.redacted
                health.schemaVersion = state.currentVersion
                health.latestSchemaVersion = Migrations.latestVersion
                health.pendingMigrations = state.pending.count
                health.roundTripMs = Self.milliseconds(roundTrip)
            }
            return try APIJSON.response(health)
        }
    }

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
