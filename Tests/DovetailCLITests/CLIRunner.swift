import DovetailTesting
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs the built `dovetail` executable the way a user would, capturing output and exit code.
struct CLIRunner {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    static var executable: URL {
        let testBinary = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0])
        var directory = testBinary.deletingLastPathComponent()
        // The test bundle may sit inside `dovetailPackageTests.xctest/...`; walk up to the build directory.
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("dovetail")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/dovetail")
    }

    var environment: [String: String] = [:]
    var directory: URL

    init(directory: URL, environment: [String: String] = [:]) {
        self.directory = directory
        self.environment = environment
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dovetail-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func makeProcess(_ arguments: [String]) -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        var env = ProcessInfo.processInfo.environment
        for key in ["DATABASE_URL", "DB_MODE", "HOST", "PORT"] { env.removeValue(forKey: key) }
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        return (process, out, err)
    }

    func run(_ arguments: String...) async throws -> Outcome {
        let (process, out, err) = makeProcess(arguments)
        try process.run()
        let stdout = Task { await TestSupport.blocking { out.fileHandleForReading.readDataToEndOfFile() } }
        let stderr = Task { await TestSupport.blocking { err.fileHandleForReading.readDataToEndOfFile() } }
        let outData = await stdout.value
        let errData = await stderr.value
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }
}

func httpGet(_ url: String) async throws -> (Int, String) {
    let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}
