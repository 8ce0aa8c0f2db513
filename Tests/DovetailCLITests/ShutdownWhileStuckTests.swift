import DovetailTesting
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM ends `serve` within its shutdown bound even while requests are stuck in the database driver:
/// PostgreSQL is frozen with SIGSTOP (connections open, nothing answers — no cancellation reaches a
/// request waiting there), requests are sent, then the server gets SIGTERM.
@Suite("SIGTERM while requests are stuck on a frozen PostgreSQL", .serialized)
struct ShutdownWhileStuckTests {
    @Test
    func sigtermEndsServeWithinItsBound() async throws {
        let server = try await PostgresTestServer.startDedicated()
        let directory = try CLIRunner.temporaryDirectory()
        let result = await TestSupport.capture {
            let url = try await server.createDatabase()
            // The request bound (the pool timeout) is far beyond the shutdown bound, so only shutdown can end them.
            let serve = try ServeProcess(
                databaseURL: url, directory: directory, name: "stuck",
                environment: ["SHUTDOWN_TIMEOUT": "2", "POSTGRES_POOL_TIMEOUT": "120", "POSTGRES_STATEMENT_TIMEOUT": "0"]
            )
            try await serve.waitUntilHealthy()
            try server.signalServerProcesses(SIGSTOP)
            defer { try? server.signalServerProcesses(SIGCONT) }
            let stuck = (0..<4).map { _ in
                Task { try? await URLSession.shared.data(for: URLRequest(url: URL(string: "\(serve.baseURL)/api/projects")!, timeoutInterval: 120)) }
            }
            try await Task.sleep(for: .seconds(1))
            #expect(serve.isRunning)
            let clock = ContinuousClock()
            let signalled = clock.now
            kill(serve.pid, SIGTERM)
            while serve.isRunning && signalled.duration(to: clock.now) < .seconds(30) {
                try await Task.sleep(for: .milliseconds(100))
            }
            let took = signalled.duration(to: clock.now)
            #expect(!serve.isRunning, "serve still runs 30 s after SIGTERM:\n\(serve.log)")
            // SHUTDOWN_TIMEOUT (2 s) + cancellation (3 s) + the hard deadline's margin (5 s): within 9 s.
            #expect(took < .seconds(9), "serve took \(took) to end after SIGTERM")
            print("ShutdownWhileStuckTests: serve ended \(took) after SIGTERM with 4 requests stuck on a frozen PostgreSQL")
            for task in stuck { task.cancel() }
        }
        try? server.signalServerProcesses(SIGCONT)
        await server.destroy()
        try? FileManager.default.removeItem(at: directory)
        try result.get()
    }
}
