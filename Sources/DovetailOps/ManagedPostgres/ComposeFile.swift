/// The `compose.yml` of the docker engine: one PostgreSQL service.
///
/// It holds no secret: the credentials reach the container through Compose's interpolation of `.env` (which `init`
/// writes next to it), so the file can be committed and `docker compose config` shows no password on the command line.
enum ComposeFile {
    /// A pinned image: PostgreSQL 17 with pgvector 0.8.1 on Debian bookworm, so every machine runs the same server and
    /// the `vector` extension is available.
    static let image = "pgvector/pgvector:0.8.1-pg17-bookworm"
    static let service = "postgres"
    /// The first line of every file dovetail writes; a `compose.yml` without it belongs to someone else.
    static let marker = "# dovetail-managed-postgres"

    /// `owner` is the uid:gid the server runs as in the container, so that files in the bind-mounted data directory
    /// belong to the user who ran `init`; nil (as root) lets the image's entrypoint hand the directory to its own
    /// `postgres` user, as it does by default.
    static func render(port: Int, clusterDirectory: String, owner: (uid: UInt32, gid: UInt32)?, image: String = ComposeFile.image) -> String {
        var lines = [
            "\(marker): written by `dovetail postgres init --engine docker`, replaced by `init --force`.",
            "# The credentials come from .env next to this file (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB); no secret is kept here.",
            "services:",
            "  \(service):",
            "    image: \(image)",
            "    restart: unless-stopped",
        ]
        if let owner {
            lines.append("    # The server runs as the user who ran `init`, so the bind-mounted data directory stays theirs.")
            lines.append("    user: \"\(owner.uid):\(owner.gid)\"")
        } else {
            lines.append("    # No `user:` (init ran as root): the image's entrypoint makes the data directory owned by its postgres user.")
        }
        lines += [
            "    environment:",
            "      POSTGRES_USER: ${POSTGRES_USER:?run dovetail postgres init}",
            "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?run dovetail postgres init}",
            "      POSTGRES_DB: ${POSTGRES_DB:?run dovetail postgres init}",
            "      POSTGRES_INITDB_ARGS: \"--auth-local=scram-sha-256 --auth-host=scram-sha-256 --data-checksums\"",
            "    volumes:",
            "      - type: bind",
            "        source: \(quoted(clusterDirectory))",
            "        target: /var/lib/postgresql/data",
            "    ports:",
            "      - \"127.0.0.1:\(port):5432\"",
            "    # PostgreSQL's fast shutdown: open transactions are rolled back, nothing is lost.",
            "    stop_signal: SIGINT",
            "    stop_grace_period: 60s",
            "    shm_size: 256mb",
            "    healthcheck:",
            "      test: [\"CMD-SHELL\", \"pg_isready -h 127.0.0.1 -p 5432 -U $${POSTGRES_USER} -d $${POSTGRES_DB}\"]",
            "      interval: 5s",
            "      timeout: 5s",
            "      retries: 10",
            "      start_period: 30s",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether the text of a `compose.yml` is one dovetail wrote.
    static func isOurs(_ contents: String) -> Bool {
        contents.hasPrefix(marker)
    }

    /// A YAML double-quoted string, with `$` doubled so that Compose does not interpolate it.
    private static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "$": result += "$$"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}
