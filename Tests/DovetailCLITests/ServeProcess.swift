import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DovetailStore
import DovetailTesting

/// A real `dovetail serve` process on a free port, for the reliability tests: started from the built binary, its output
/// written to a log file (never to a pipe nobody reads, which would stall a chatty server), stopped with SIGKILL or
/// SIGTERM. `deinit` kills a process still running, so a failing test leaves nothing behind.
final class ServeProcess: @unchecked Sendable {
    let port: Int
    let logURL: URL
    private let process: Process
    private let lock = NSLock()

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var pid: pid_t { process.processIdentifier }

    /// Starts `dovetail serve` on `databaseURL` in `directory` (without waiting for it; see `waitUntilHealthy`).
    init(databaseURL: String, directory: URL, name: String, environment: [String: String] = [:]) throws {
        self.port = try TestSupport.freePort()
        self.logURL = directory.appendingPathComponent("\(name).log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        var env = environment
        env["DATABASE_URL"] = databaseURL
        let runner = CLIRunner(directory: directory, environment: env)
        let (process, _, _) = runner.makeProcess(["serve", "--host", "127.0.0.1", "--port", String(port), "--wait-timeout", "20"])
        process.standardOutput = log
        process.standardError = log
        var processEnvironment = process.environment ?? [:]
        processEnvironment.removeValue(forKey: "DOVETAIL_AUTH")
        process.environment = processEnvironment
        self.process = process
        try process.run()
        try? log.close()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    var isRunning: Bool { process.isRunning }

    /// Polls `/health` until it answers 200; throws with the server's log when it does not within `timeout`.
    func waitUntilHealthy(timeout: Duration = .seconds(30)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            if let (status, _) = try? await httpGet("\(baseURL)/health"), status == 200 { return }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw ServeProcessError.notHealthy(log: self.log)
    }

    /// SIGKILL: no graceful shutdown, no flush, exactly what a crash or the OOM killer does.
    func sigkill() {
        lock.withLock {
            if process.isRunning { _ = kill(process.processIdentifier, SIGKILL) }
        }
    }

    /// SIGTERM and wait for the exit.
    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    func waitUntilExit() { process.waitUntilExit() }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }
}

enum ServeProcessError: Error, CustomStringConvertible {
    case notHealthy(log: String)
    var description: String {
        switch self {
        case .notHealthy(let log): "dovetail serve did not answer /health; its log:\n\(log.suffix(4000))"
        }
    }
}

/// A small JSON-over-HTTP client with its own URLSession (many connections per host, short timeouts), for load.
struct LoadClient: Sendable {
    let session: URLSession

    init(maximumConnections: Int = 64, timeout: TimeInterval = 20) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = maximumConnections
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.urlCache = nil
        self.session = URLSession(configuration: configuration)
    }

    /// Sends `method url` with a JSON body; returns the status and the body, or throws on a transport error
    /// (connection refused or reset, timeout).
    func send(_ method: String, _ url: String, body: Data? = nil) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: url)!)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await session.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// Sends and decodes a JSON object answer, requiring a 2xx status.
    func json(_ method: String, _ url: String, body: [String: String]? = nil) async throws -> JSONObject {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        let (status, answer) = try await send(method, url, body: data)
        guard (200..<300).contains(status) else {
            throw LoadClientError.status(method: method, url: url, status: status, body: String(decoding: answer, as: UTF8.self))
        }
        return try JSONObject(answer)
    }

    /// Every item of a paged list (`items` + `next_cursor`), following cursors.
    func allItems(_ url: String) async throws -> [JSONObject] {
        var items: [JSONObject] = []
        var cursor: String?
        repeat {
            var page = url + (url.contains("?") ? "&" : "?") + "limit=500"
            if let cursor { page += "&cursor=" + (cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor) }
            let answer = try await json("GET", page)
            items += answer.objects("items")
            cursor = answer.string("next_cursor")
        } while cursor != nil
        return items
    }
}

enum LoadClientError: Error, CustomStringConvertible {
    case status(method: String, url: String, status: Int, body: String)
    case notAnObject(String)
    var description: String {
        switch self {
        case .status(let method, let url, let status, let body): "\(method) \(url) answered \(status): \(body.prefix(500))"
        case .notAnObject(let body): "not a JSON object: \(body.prefix(500))"
        }
    }
}

/// A decoded JSON object, kept as its serialised bytes so that it is Sendable.
struct JSONObject: Sendable {
    private let data: Data

    init(_ data: Data) throws {
        guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            throw LoadClientError.notAnObject(String(decoding: data, as: UTF8.self))
        }
        self.data = data
    }

    private var object: [String: Any] { (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:] }

    func string(_ key: String) -> String? { object[key] as? String }
    func int(_ key: String) -> Int? { (object[key] as? NSNumber)?.intValue }
    func objects(_ key: String) -> [JSONObject] {
        ((object[key] as? [Any]) ?? []).compactMap { item in
            (try? JSONSerialization.data(withJSONObject: item)).flatMap { try? JSONObject($0) }
        }
    }
}

extension DatabaseURL {
    /// The URL as `DATABASE_URL` spells it, for a child process; nil for an in-memory SQLite database.
    var environmentValue: String? {
        switch self {
        case .sqlite(.file(let path)): "sqlite:///" + path
        case .postgres(let info): info.urlString
        default: nil
        }
    }
}
