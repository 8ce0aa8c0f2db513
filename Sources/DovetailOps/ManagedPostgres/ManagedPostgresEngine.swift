/// How the managed PostgreSQL runs: from the PostgreSQL binaries installed on this machine, or in a Docker container.
public enum ManagedPostgresEngine: String, Sendable, Codable, CaseIterable {
    case native
    case docker
}
