import Foundation

extension PostgresTestServer {
    /// Sends `signal` to the server's postmaster and every backend it forked. `SIGSTOP` freezes the server
    /// with its connections open — the worst case for a client: nothing is refused, nothing answers — and
    /// `SIGCONT` thaws it. Only for servers this process started (`startDedicated()`).
    public nonisolated func signalServerProcesses(_ signal: Int32) throws {
        let postmasters = Self.processes { _, commandLine in
            commandLine.contains("postgres") && !commandLine.contains("pg_ctl")
                && (commandLine.contains("-p\u{0}\(self.port)\u{0}") || commandLine.contains("-p \(self.port)"))
        }
        guard let postmaster = postmasters.first else {
            throw PostgresTestServerError.system("No postmaster listening on port \(self.port) was found to signal.")
        }
        let children = Self.processes { stat, _ in stat.parentPID == postmaster }
        for pid in [postmaster] + children { kill(pid, signal) }
    }

    private struct ProcessStat {
        var parentPID: pid_t
    }

    /// PIDs of processes whose `/proc/<pid>/stat` and NUL-separated command line satisfy `matches`.
    private static func processes(where matches: (ProcessStat, String) -> Bool) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var found: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (comm) " come the state and the parent pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let parent = pid_t(fields[1]) else { continue }
            let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
            if matches(ProcessStat(parentPID: parent), commandLine) { found.append(pid) }
        }
        return found
    }
}
