import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts programs with `posix_spawn` and waits for them.
///
/// Not Foundation's `Process`: on Linux it learns that a child ended when a pipe the child inherited is closed, and a
/// server that `pg_ctl start` leaves running inherits it too, so `pg_ctl start` would never be seen to end. For the same
/// reason no descriptor of this process other than the three standard ones reaches a child (a server would keep a
/// socket or a pipe of ours open for as long as it runs). The same approach as `DovetailTesting.PostgresTestServer`.
package enum ProcessSpawner {
    package enum Output {
        /// Standard output and error appended to this file (created with mode 0600).
        case file(String)
        /// This process's standard output and error.
        case inherit
        case discard
    }

    /// Starts `argv` (an absolute path first) with standard input from /dev/null and default signal handling. With
    /// `newProcessGroup` the child leads a process group of its own, so a Ctrl-C in the terminal does not reach it and
    /// the whole group can be killed at once; without it, it shares ours (for programs the user watches and stops).
    package static func spawn(_ argv: [String], environment: [String: String], output: Output, newProcessGroup: Bool) throws(SpawnFailure) -> pid_t {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t?
        var attributes: posix_spawnattr_t?
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        switch output {
        case .file(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .discard:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .inherit:
            break
        }

        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        if case .inherit = output {
            posix_spawn_file_actions_addinherit_np(&actions, 1)
            posix_spawn_file_actions_addinherit_np(&actions, 2)
        }
        #else
        closeInheritedDescriptors(&actions)
        #endif
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        sigdelset(&allSignals, SIGKILL)
        sigdelset(&allSignals, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid = pid_t()
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, arguments, variables)
        guard result == 0 else {
            throw SpawnFailure(executable: argv[0], reason: String(cString: strerror(result)))
        }
        return pid
    }

    package struct SpawnFailure: Error {
        package var executable: String
        package var reason: String
    }

    /// Blocks until child `pid` has ended, without reaping it, so that its process id cannot be reused while a
    /// timeout may still signal it. Call `reap` afterwards.
    static func waitUntilEnded(_ pid: pid_t) {
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1 {
            guard errno == EINTR else { return }
        }
    }

    /// Collects the status of child `pid` (blocking until it ends): its exit status, or 128 + the signal that ended it.
    package static func reap(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return -1 }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    #if !canImport(Darwin)
    /// Closes every descriptor above standard error in the child: `posix_spawn_file_actions_addclosefrom_np` (glibc
    /// 2.34+, looked up at run time because Swift does not import it), else marks this process's descriptors
    /// close-on-exec.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np"),
            unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3) == 0
        {
            return
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? [] {
            if let descriptor = Int32(name), descriptor > 2 {
                _ = fcntl(descriptor, F_SETFD, fcntl(descriptor, F_GETFD) | FD_CLOEXEC)
            }
        }
    }
    #endif
}
