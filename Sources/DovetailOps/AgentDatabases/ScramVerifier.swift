import Crypto
import Foundation

/// A SCRAM-SHA-256 verifier (RFC 5802/7677) in the text form PostgreSQL stores in `pg_authid.rolpassword`:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, all base64.
///
/// Why: `CREATE ROLE … PASSWORD '…'` cannot take a bind parameter, and PostgreSQL logs a failing statement
/// (and, with `log_statement`, every one) verbatim, so a plaintext password in the statement ends up in the
/// server log. PostgreSQL accepts a verifier in its place and stores it as is, exactly as `psql`'s
/// `\password` does, so the plaintext never leaves Dovetail. The verifier is computed the way the server
/// would (`pg_be_scram_build_secret`): SASLprep when it succeeds, else the raw bytes; 4096 iterations and a
/// 16-byte random salt, as libpq's defaults.
struct ScramVerifier: Sendable, Equatable {
    static let defaultIterations = 4096
    static let saltLength = 16

    var iterations: Int
    var salt: [UInt8]
    var storedKey: [UInt8]
    var serverKey: [UInt8]

    /// The verifier for `password` with a fresh random salt.
    init(password: String, iterations: Int = Self.defaultIterations) {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        self.init(password: password, salt: salt, iterations: iterations)
    }

    /// The verifier for `password` with a given salt: deterministic, so tests can compare with the server's own.
    init(password: String, salt: [UInt8], iterations: Int) {
        let salted = Self.pbkdf2(password: SASLprep.prepare(password), salt: salt, iterations: iterations)
        let key = SymmetricKey(data: salted)
        let clientKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Client Key".utf8), using: key))
        self.iterations = iterations
        self.salt = salt
        self.storedKey = Array(SHA256.hash(data: clientKey))
        self.serverKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Server Key".utf8), using: key))
    }

    /// `SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`, what goes after `PASSWORD` in `CREATE/ALTER ROLE`.
    var text: String {
        "SCRAM-SHA-256$\(iterations):\(Data(salt).base64EncodedString())$"
            + "\(Data(storedKey).base64EncodedString()):\(Data(serverKey).base64EncodedString())"
    }

    /// Parses `text`'s form (as read from `pg_authid`); nil for anything else (an MD5 hash, a plaintext password).
    init?(text: String) {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "SCRAM-SHA-256" else { return nil }
        let head = parts[1].split(separator: ":"), keys = parts[2].split(separator: ":")
        guard head.count == 2, keys.count == 2, let iterations = Int(head[0]), let salt = Data(base64Encoded: String(head[1])),
            let stored = Data(base64Encoded: String(keys[0])), let server = Data(base64Encoded: String(keys[1]))
        else { return nil }
        self.iterations = iterations
        self.salt = Array(salt)
        self.storedKey = Array(stored)
        self.serverKey = Array(server)
    }

    /// PBKDF2-HMAC-SHA256 (RFC 8018) for one 32-byte block, which is all SCRAM-SHA-256 needs (`Hi()` in RFC 5802).
    static func pbkdf2(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var block = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = block
        for _ in 1..<max(iterations, 1) {
            block = Array(HMAC<SHA256>.authenticationCode(for: block, using: key))
            for index in result.indices { result[index] ^= block[index] }
        }
        return result
    }
}
