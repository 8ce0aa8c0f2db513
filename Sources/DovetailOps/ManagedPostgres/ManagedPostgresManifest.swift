import Foundation

/// What `init` chose, kept in the data directory so that later commands need no flags: which engine, which port, and
/// (native) the binaries and the system user that runs the server, or (docker) the image. Holds no secret.
struct ManagedPostgresManifest: Codable, Sendable, Equatable {
    var engine: ManagedPostgresEngine
    var port: Int
    /// Native: the system user that runs the server (set when `init` ran as root).
    var runAs: String?
    /// Native: the directory holding `initdb` and `pg_ctl`.
    var binDirectory: String?
    /// Docker: the image of the service.
    var image: String?
    var createdAt: String
    var format = 1

    enum CodingKeys: String, CodingKey {
        case engine
        case port
        case runAs = "run_as"
        case binDirectory = "bin_directory"
        case image
        case createdAt = "created_at"
        case format
    }

    static func load(_ paths: ManagedPostgresPaths) throws(ManagedPostgresError) -> ManagedPostgresManifest? {
        guard let data = FileManager.default.contents(atPath: paths.manifestFile) else { return nil }
        do {
            return try JSONDecoder().decode(ManagedPostgresManifest.self, from: data)
        } catch {
            throw .system("\(paths.manifestFile) is damaged (\(error)); fix it, or start over with `dovetail postgres init --force`.")
        }
    }

    func save(_ paths: ManagedPostgresPaths) throws(ManagedPostgresError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(self)
            data.append(UInt8(ascii: "\n"))
            try data.write(to: URL(fileURLWithPath: paths.manifestFile), options: .atomic)
        } catch {
            throw .system("cannot write \(paths.manifestFile): \(error)")
        }
    }
}
