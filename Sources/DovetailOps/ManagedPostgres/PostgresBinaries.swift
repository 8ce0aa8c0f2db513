import Foundation

/// Finds the PostgreSQL server programs (`initdb`, `pg_ctl`, `postgres`) on this machine.
enum PostgresBinaries {
    /// `PG_BIN_DIR`, else (newest version first) Debian's `/usr/lib/postgresql/<version>/bin`, Homebrew's and the source
    /// build's directories, else `PATH`. With `majorVersion`, a directory of that version is preferred: a data
    /// directory can only be run by the major version that created it.
    static func find(
        majorVersion: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ManagedPostgresError) -> String {
        if let directory = environment["PG_BIN_DIR"], !directory.isEmpty {
            guard hasServer(directory) else { throw .binariesNotFound(lookedIn: ["PG_BIN_DIR=\(directory)"]) }
            return directory
        }
        var candidates: [String] = []
        let versioned: [(base: String, prefix: String, suffix: String)] = [
            ("/usr/lib/postgresql", "", "/bin"),
            ("/opt/homebrew/opt", "postgresql@", "/bin"),
            ("/usr/local/opt", "postgresql@", "/bin"),
            ("/usr", "pgsql-", "/bin"),
        ]
        for (base, prefix, suffix) in versioned {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
            let versions = names.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
                .filter { $0.first?.isNumber == true }
                .sorted { Self.versionParts($1).lexicographicallyPrecedes(Self.versionParts($0)) }
            candidates += versions.map { "\(base)/\(prefix)\($0)\(suffix)" }
        }
        candidates += ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"]
        candidates += (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let found = candidates.filter(hasServer)
        if let majorVersion, let matching = found.first(where: { Self.majorVersion(of: $0) == majorVersion }) {
            return matching
        }
        guard let first = found.first else {
            throw .binariesNotFound(lookedIn: ["PG_BIN_DIR", "/usr/lib/postgresql/*/bin", "Homebrew", "/usr/local/pgsql/bin", "PATH"])
        }
        return first
    }

    static func hasServer(_ directory: String) -> Bool {
        let fileManager = FileManager.default
        return ["initdb", "pg_ctl", "postgres"].allSatisfy { fileManager.isExecutableFile(atPath: directory + "/" + $0) }
    }

    /// The major version a binary directory belongs to, read from `PG_VERSION`-style paths (`/usr/lib/postgresql/15/bin`)
    /// or nil when the path does not say.
    static func majorVersion(of directory: String) -> String? {
        for component in directory.split(separator: "/").reversed() {
            let digits = component.drop { !$0.isNumber }
            if let major = digits.split(separator: ".").first, !major.isEmpty, major.allSatisfy(\.isNumber) {
                return String(major)
            }
        }
        return nil
    }

    private static func versionParts(_ version: String) -> [Int] {
        version.split(separator: ".").map { Int($0) ?? 0 }
    }
}
