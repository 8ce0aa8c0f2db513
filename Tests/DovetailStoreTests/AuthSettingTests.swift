import Foundation
import Testing

@testable import DovetailStore

@Suite("DOVETAIL_AUTH and SHUTDOWN_TIMEOUT")
struct AuthSettingTests {
    static func load(_ variables: [String: String]) throws -> DovetailConfiguration {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("dovetail-auth-\(UUID().uuidString)").path
        return try DovetailConfiguration.load(environment: variables, directory: empty)
    }

    @Test(arguments: ["required", "REQUIRED", "true", "1", "yes", "on", " Required "])
    func clearOnValuesRequireTokensOnLoopback(_ value: String) throws {
        #expect(try Self.load(["DOVETAIL_AUTH": value]).authRequired)
    }

    @Test(arguments: ["loopback", "false", "0", "off", "no", ""])
    func clearOffValuesLeaveLoopbackOpen(_ value: String) throws {
        #expect(try !Self.load(["DOVETAIL_AUTH": value]).authRequired)
        #expect(try Self.load(["DOVETAIL_AUTH": value, "HOST": "0.0.0.0"]).authRequired, "off loopback, tokens are always required")
    }

    @Test(arguments: ["requried", "maybe", "2", "enabled"])
    func unknownValuesStopStartUp(_ value: String) throws {
        #expect {
            _ = try Self.load(["DOVETAIL_AUTH": value])
        } throws: { error in
            "\(error)".contains("DOVETAIL_AUTH") && "\(error)".contains("required")
        }
    }

    @Test func everyLoopbackSpellingCountsAsLoopback() throws {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "0:0:0:0:0:0:0:1"] {
            #expect(try !Self.load(["HOST": host]).authRequired, "\(host)")
        }
        for host in ["0.0.0.0", "::", "10.0.0.5", "dovetail.internal"] {
            #expect(try Self.load(["HOST": host]).authRequired, "\(host)")
        }
    }

    @Test func shutdownTimeoutIsReadAndChecked() throws {
        #expect(try Self.load([:]).shutdownTimeout == .seconds(25))
        #expect(try Self.load(["SHUTDOWN_TIMEOUT": "3.5"]).shutdownTimeout == .milliseconds(3500))
        #expect(throws: ConfigurationError.self) { try Self.load(["SHUTDOWN_TIMEOUT": "0"]) }
    }
}
