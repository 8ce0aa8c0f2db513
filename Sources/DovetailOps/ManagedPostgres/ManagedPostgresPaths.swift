import Foundation

/// Where a managed PostgreSQL keeps its files.
///
/// `.env` and `compose.yml` live in the project directory (the working directory of `dovetail`); everything else lives
/// in the data directory, so `stop --purge` removes one directory:
///
/// ```
/// <data>/pgdata/                 the PostgreSQL data directory (native: PGDATA; docker: bind-mounted into the container)
/// <data>/postgres.log            the server log (native)
/// <data>/dovetail-postgres.json  what `init` chose: engine, port, user, binaries or image
/// ```
public struct ManagedPostgresPaths: Sendable, Equatable {
    /// Absolute.
    public let projectDirectory: String
    /// Absolute.
    public let dataDirectory: String
    /// The data directory as the user gave it (`./data/postgres`), for messages and `.env`.
    public let dataDirectorySetting: String

    public static let defaultDataDirectory = "./data/postgres"
    /// The `.env` variable that remembers a data directory other than the default.
    public static let dataDirectoryVariable = "POSTGRES_DATA_DIR"

    public init(projectDirectory: String, dataDirectory: String) {
        let project = Self.absolute(projectDirectory, relativeTo: FileManager.default.currentDirectoryPath)
        self.projectDirectory = project
        self.dataDirectorySetting = dataDirectory
        self.dataDirectory = Self.absolute(dataDirectory, relativeTo: project)
    }

    public var envFile: String { self.projectDirectory + "/.env" }
    public var composeFile: String { self.projectDirectory + "/compose.yml" }
    public var clusterDirectory: String { self.dataDirectory + "/pgdata" }
    public var logFile: String { self.dataDirectory + "/postgres.log" }
    public var manifestFile: String { self.dataDirectory + "/dovetail-postgres.json" }

    /// The data directory as `compose.yml` names it: relative to the project (`./data/postgres`) when inside it.
    var dataDirectoryFromProject: String {
        let prefix = self.projectDirectory.hasSuffix("/") ? self.projectDirectory : self.projectDirectory + "/"
        if self.dataDirectory.hasPrefix(prefix) {
            return "./" + self.dataDirectory.dropFirst(prefix.count)
        }
        return self.dataDirectory
    }

    /// Creates `path` with mode 0700 if it is missing. Missing parents get the usual mode (not 0700, which
    /// `FileManager` would give them too), so that the user who runs the server can still reach the directory.
    static func createPrivateDirectory(_ path: String, named name: String) throws(ManagedPostgresError) {
        let fileManager = FileManager.default
        guard !fileManager.fileExists(atPath: path) else { return }
        do {
            try fileManager.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try fileManager.createDirectory(atPath: path, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .system("cannot create \(name): \(error.localizedDescription)")
        }
    }

    /// `path` made absolute and normalised (`.` and `..` resolved, no trailing `/`), without following links.
    static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base : base + "/") + path
        var parts: [Substring] = []
        for part in joined.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !parts.isEmpty { parts.removeLast() }
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
