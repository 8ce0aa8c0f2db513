import Foundation
import Testing

@testable import DovetailOps

@Suite("SystemCommandRunner")
struct CommandRunnerTests {
    @Test
    func capturesOutputAndStatus() async throws {
        let result = try await SystemCommandRunner().run(Command("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]))
        #expect(result.status == 3)
        #expect(result.output.contains("out") && result.output.contains("err"))
        #expect(!result.succeeded)
    }

    /// What `pg_ctl start` does: leave a process running in the background. The command still ends at once, because
    /// the background process holds none of this process's pipes.
    @Test
    func aProgramThatLeavesABackgroundProcessEndsAtOnce() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await SystemCommandRunner().run(Command("/bin/sh", ["-c", "sleep 120 & echo $!"]))
        // Generous bound for a loaded CI machine: the failure it guards against is waiting out the 120 s child.
        #expect(start.duration(to: clock.now) < .seconds(60))
        if let pid = Int32(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGKILL)
        }
    }

    @Test
    func killsAProgramThatOutlivesItsTimeout() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try await SystemCommandRunner().run(Command("/bin/sh", ["-c", "sleep 300"], timeout: .milliseconds(300)))
        #expect(result.timedOut)
        #expect(start.duration(to: clock.now) < .seconds(120))
    }

    @Test
    func runsInAWorkingDirectoryWithExtraEnvironment() async throws {
        let result = try await SystemCommandRunner().run(
            Command("/bin/sh", ["-c", "pwd; echo \"$DOVETAIL_TEST_VALUE\""], workingDirectory: "/tmp", environment: ["DOVETAIL_TEST_VALUE": "a b"])
        )
        #expect(result.output == "/tmp\na b\n")
    }

    @Test
    func aMissingProgramIsNotFound() async throws {
        do {
            _ = try await SystemCommandRunner().run(Command("dovetail-no-such-program"))
            Issue.record("ran a program that does not exist")
        } catch let error as CommandRunnerError {
            #expect(error.isExecutableNotFound)
        }
    }

    @Test
    func missingPostgreSQLBinariesSayHowToInstallThem() {
        do {
            _ = try PostgresBinaries.find(environment: ["PG_BIN_DIR": "/nonexistent/bin"])
            Issue.record("found binaries in a directory that does not exist")
        } catch {
            #expect(error.code == "binaries_not_found")
            #expect(error.message.contains("apt-get install -y postgresql") && error.message.contains("--engine docker"))
        }
    }
}
