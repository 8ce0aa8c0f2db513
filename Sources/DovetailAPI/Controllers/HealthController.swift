import DovetailStore
import Hummingbird

/// `GET /health`: the backend, the schema version and one database round trip. It names the
/// server only through the redacted URL, never with its password.
struct HealthController {
    let store: Store

    struct Health: Encodable {
        var status: String
        var backend: String
        var database: String
        var schemaVersion: Int
        var latestSchemaVersion: Int
        var pendingMigrations: Int
        var roundTripMs: Double

        enum CodingKeys: String, CodingKey {
            case status, backend, database
            case schemaVersion = "schema_version"
            case latestSchemaVersion = "latest_schema_version"
            case pendingMigrations = "pending_migrations"
            case roundTripMs = "round_trip_ms"
        }
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("health") { _, _ in
            let roundTrip = try await store.database.ping()
            let state = try await store.migrator.state()
            let health = Health(
                status: state.pending.isEmpty ? "ok" : "migrations_pending",
                backend: store.dialect.rawValue,
                database: store.database.url.redacted,
                schemaVersion: state.currentVersion,
                latestSchemaVersion: Migrations.latestVersion,
                pendingMigrations: state.pending.count,
                roundTripMs: Double(roundTrip.components.attoseconds / 1_000_000_000_000) / 1_000_000 + Double(roundTrip.components.seconds) * 1000
            )
            return try APIJSON.response(health)
        }
    }
}
