import ArgumentParser
import DovetailAPI
import DovetailStore
import Foundation

/// `dovetail health`: asks the running server one health route and exits 0 when it answers 200, 1 otherwise,
/// printing one line either way. It is the image's `HEALTHCHECK`, so it needs nothing but this binary (no curl),
/// and it finds the server the way `serve` finds its port: `PORT` from the environment or `.env`, else 8080.
struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask the running server whether it is healthy: exit 0 when it answers 200, 1 otherwise.",
        discussion: """
            Default route /health/ready (the database answers and no migration is pending); /health/live only \
            asks whether the process serves. Used as the container HEALTHCHECK.
            """
    )

    @Option(help: "The server's base URL (default http://127.0.0.1:PORT, with PORT from the environment or .env, else 8080).")
    var url: String?

    @Option(help: "The route to ask.")
    var path = "/health/ready"

    @Option(help: "Seconds to wait for the answer, connecting included.")
    var timeout: Double = 2

    func validate() throws {
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with /, e.g. /health/ready.") }
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be a number of seconds above 0, e.g. 2.") }
    }

    func run() async throws {
        var base = url ?? Self.defaultBaseURL()
        while base.hasSuffix("/") { base.removeLast() }
        let target = base + path
        let answer: HealthProbe.Answer
        do {
            answer = try await HealthProbe.get(target, timeout: .milliseconds(Int64(timeout * 1000)))
        } catch {
            print("unhealthy: \(target): \(error.description)")
            throw ExitCode(1)
        }
        guard answer.status == 200 else {
            let detail = Self.problemDetail(answer.body).map { ": \($0)" } ?? ""
            print("unhealthy: \(target) answered \(answer.status)\(detail)")
            throw ExitCode(1)
        }
        print("healthy: \(target) answered 200")
    }

    /// `http://HOST:PORT` as `serve` would listen with the same environment: a wildcard or unset `HOST` is asked
    /// on 127.0.0.1. Read without validating the rest of the configuration, so a health check never fails over a
    /// setting that has nothing to do with it.
    static func defaultBaseURL(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var merged = (try? EnvironmentFile.load(path: FileManager.default.currentDirectoryPath + "/.env")) ?? [:]
        merged.merge(environment) { _, process in process }
        func value(_ key: String) -> String? {
            let text = merged[key]?.trimmingCharacters(in: .whitespaces) ?? ""
            return text.isEmpty ? nil : text
        }
        let port = value("PORT").flatMap { Int($0) }.flatMap { (1...65535).contains($0) ? $0 : nil } ?? 8080
        var host = value("HOST") ?? "127.0.0.1"
        if ["0.0.0.0", "::", "[::]", "*"].contains(host) { host = "127.0.0.1" }
        if host.contains(":"), !host.hasPrefix("[") { host = "[\(host)]" }
        return "http://\(host):\(port)"
    }

    /// The `detail` of a problem+json answer, so the one line says why (e.g. "3 migration(s) pending").
    static func problemDetail(_ body: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
        return object["detail"] as? String
    }
}
