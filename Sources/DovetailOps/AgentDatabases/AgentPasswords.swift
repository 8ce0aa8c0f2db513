import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Agent role passwords.
///
/// With `AGENT_DB_APPLICATION_PASSWORD` every agent shares that password. Otherwise each role's password
/// is HMAC-SHA256(secret, role name), base64url: strong (256 bits), different per agent, and the same on
/// every deploy, so a re-deploy hands the running agent the password its role already has and nothing
/// about passwords needs storing. The secret is 32 random bytes in `DOVETAIL_DATA_DIR/agent-secret`
/// (mode 0600), created once; deleting it rotates every password on the next deploy, because deploy
/// always sets the role's password to the current one.
struct AgentPasswords: Sendable {
    let configuration: AgentDatabaseConfiguration

    func password(forRole role: String) throws -> String {
        if let shared = configuration.applicationPassword { return shared }
        let key = SymmetricKey(data: try Self.secret(directory: configuration.absoluteDataDirectory))
        let mac = HMAC<SHA256>.authenticationCode(for: Array("dovetail-agent-role:\(role)".utf8), using: key)
        return Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Reads the secret, creating it atomically (write a private temporary file, then `link` it into place:
    /// of two racing processes one wins and both read the winner's secret).
    static func secret(directory: String) throws -> [UInt8] {
        let path = directory + "/agent-secret"
        if let data = FileManager.default.contents(atPath: path), data.count >= 32 { return Array(data) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        let temporary = path + ".\(getpid()).\(UInt64.random(in: 0 ... .max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else {
            throw AgentDatabaseError(.configuration, "Cannot write \(path): \(String(cString: strerror(errno))). Check DOVETAIL_DATA_DIR.")
        }
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fsync(descriptor)
        close(descriptor)
        defer { unlink(temporary) }
        guard written == bytes.count else { throw AgentDatabaseError(.configuration, "Cannot write \(path). Check DOVETAIL_DATA_DIR.") }
        if link(temporary, path) != 0, errno != EEXIST {
            throw AgentDatabaseError(.configuration, "Cannot create \(path): \(String(cString: strerror(errno))). Check DOVETAIL_DATA_DIR.")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count >= 32 else {
            throw AgentDatabaseError(.configuration, "\(path) is shorter than 32 bytes; delete it to generate a new one.")
        }
        return Array(data)
    }
}
