import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The server run from the PostgreSQL binaries of this machine with `initdb` and `pg_ctl`.
///
/// PostgreSQL refuses to run as root, so as root every server program runs as the system user recorded at `init`
/// (`postgres` unless `--run-as` said otherwise), which owns the data directory.
struct NativeServerEngine: ManagedServerEngine {
    let paths: ManagedPostgresPaths
    let runner: any CommandRunner

    private var pidFile: String { self.paths.clusterDirectory + "/postmaster.pid" }

    func checkAvailable() async throws -> String {
        let directory = try self.binDirectory(nil)
        let version = PostgresBinaries.majorVersion(of: directory).map { "PostgreSQL \($0) " } ?? "PostgreSQL "
        return "\(version)binaries in \(directory)"
    }

    /// The recorded binaries if they are still there, else the ones matching the data directory's major version.
    private func binDirectory(_ manifest: ManagedPostgresManifest?) throws(ManagedPostgresError) -> String {
        if let directory = manifest?.binDirectory, PostgresBinaries.hasServer(directory) {
            return directory
        }
        let major = (try? String(contentsOfFile: self.paths.clusterDirectory + "/PG_VERSION", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return try PostgresBinaries.find(majorVersion: major)
    }

    // MARK: Preparing

    func prepare(_ setup: ServerSetup, report: ManagedPostgres.Reporter) async throws -> ManagedPostgresManifest {
        let binDirectory = try self.binDirectory(nil)
        try ManagedPostgresPaths.createPrivateDirectory(self.paths.dataDirectory, named: self.paths.dataDirectorySetting)
        if let user = setup.runAs {
            try user.takeOwnership(of: self.paths.dataDirectory)
            try await self.checkReachable(by: user)
            report(
                "Running as root: PostgreSQL refuses to run as root, so the server runs as the system user '\(user.name)', "
                    + "and \(self.paths.dataDirectorySetting) now belongs to \(user.name)."
            )
        }

        // The password reaches initdb through a file only it can read, never through its command line.
        let passwordFile = self.paths.dataDirectory + "/.pwfile-\(UUID().uuidString.prefix(8))"
        guard
            FileManager.default.createFile(
                atPath: passwordFile,
                contents: Data(setup.credentials.password.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else {
            throw ManagedPostgresError.system("cannot write a temporary password file in \(self.paths.dataDirectorySetting)")
        }
        defer { try? FileManager.default.removeItem(atPath: passwordFile) }
        if let user = setup.runAs {
            try user.takeOwnership(of: passwordFile)
        }

        let command = Command(
            binDirectory + "/initdb",
            [
                "--pgdata=\(self.paths.clusterDirectory)", "--username=\(setup.credentials.user)", "--pwfile=\(passwordFile)",
                "--auth=scram-sha-256", "--encoding=UTF8", "--no-locale", "--data-checksums",
            ],
            user: setup.runAs?.name,
            workingDirectory: self.paths.dataDirectory
        )
        let version = PostgresBinaries.majorVersion(of: binDirectory).map { "PostgreSQL \($0)" } ?? binDirectory
        report("Creating the PostgreSQL data directory with initdb (\(version))…")
        let result = try await self.runner.run(command)
        guard result.succeeded else { throw ManagedPostgresError.commandFailed(command, result: result) }
        try self.appendSettings(port: setup.port)

        return ManagedPostgresManifest(
            engine: .native,
            port: setup.port,
            runAs: setup.runAs?.name,
            binDirectory: binDirectory,
            image: nil,
            createdAt: ISO8601DateFormatter().string(from: Date())
        )
    }

    /// TCP on 127.0.0.1 only, no Unix socket (its default directory may not be writable by this user), on `port`.
    private func appendSettings(port: Int) throws(ManagedPostgresError) {
        let settings = """

            # Added by `dovetail postgres init`: reached over TCP on 127.0.0.1 only, with password authentication.
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = ''
            password_encryption = scram-sha-256

            """
        let path = self.paths.clusterDirectory + "/postgresql.conf"
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw .system("cannot open \(path) to configure the server")
        }
        defer { try? handle.close() }
        do {
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(settings.utf8))
        } catch {
            throw .system("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// The server user must be able to enter the data directory: a parent such as /root (mode 0700) would stop it.
    private func checkReachable(by user: SystemUser) async throws {
        let check = Command("/bin/sh", ["-c", "test -w \"$0\" && test -x \"$0\"", self.paths.dataDirectory], user: user.name)
        guard try await self.runner.run(check).succeeded else {
            throw ManagedPostgresError.dataDirectoryNotReachable(self.paths.dataDirectorySetting, user: user.name)
        }
    }

    // MARK: Running

    /// The system user the server programs run as: as root, the recorded one (or the owner of the data directory for
    /// an installation made without root); otherwise the current user.
    private func serverUser(_ manifest: ManagedPostgresManifest) throws(ManagedPostgresError) -> SystemUser? {
        if SystemUser.isRoot {
            let name = manifest.runAs ?? SystemUser.ownerIDs(of: self.paths.clusterDirectory).flatMap { SystemUser.name(of: $0.uid) } ?? "postgres"
            guard name != "root" else { return SystemUser.named("postgres") }
            guard let user = SystemUser.named(name) else { throw .userNotFound(name) }
            return user
        }
        if let runAs = manifest.runAs, runAs != SystemUser.currentName {
            throw .system(
                "the managed PostgreSQL runs as the system user '\(runAs)' (chosen when `init` ran as root); "
                    + "run this command as root, or as \(runAs)."
            )
        }
        return nil
    }

    func launch(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws -> LaunchMark {
        let binDirectory = try self.binDirectory(manifest)
        let user = try self.serverUser(manifest)
        switch await self.state(manifest) {
        case .crashed(let pid):
            try? FileManager.default.removeItem(atPath: self.pidFile)
            report("Removed a stale postmaster.pid: process \(pid) is gone (the server did not shut down cleanly); PostgreSQL recovers on start.")
        case .staleLock(let pid, let holder):
            throw ManagedPostgresError.staleLockFile(path: self.pidFile, pid: pid, holder: holder)
        case .stopped, .running, .unknown:
            break
        }
        guard LocalPort.isFree(manifest.port) else { throw ManagedPostgresError.portInUse(manifest.port) }
        if let user {
            let changed = try user.takeOwnership(of: self.paths.dataDirectory)
            if changed > 0 {
                report("Made \(changed) file(s) in \(self.paths.dataDirectorySetting) owned by \(user.name) again, which runs the server.")
            }
        }

        let mark = LaunchMark(logOffset: LogFile.size(self.paths.logFile))
        // -W: do not wait; `ManagedPostgres` waits for a connection with the real credentials, and notices a failed
        // start from the log rather than after pg_ctl's own timeout.
        let command = Command(
            binDirectory + "/pg_ctl",
            ["start", "--pgdata=\(self.paths.clusterDirectory)", "--log=\(self.paths.logFile)", "-W", "--silent"],
            user: user?.name,
            workingDirectory: self.paths.dataDirectory
        )
        let result = try await self.runner.run(command)
        guard result.succeeded else { throw ManagedPostgresError.commandFailed(command, result: result) }
        return mark
    }

    func state(_ manifest: ManagedPostgresManifest) async -> ServerState {
        guard let contents = FileManager.default.contents(atPath: self.pidFile) else { return .stopped }
        guard let firstLine = String(decoding: contents, as: UTF8.self).split(separator: "\n").first,
            let pid = Int32(firstLine.trimmingCharacters(in: .whitespaces)), pid > 0
        else {
            return .crashed(pid: 0)
        }
        if kill(pid, 0) != 0, errno == ESRCH {
            return .crashed(pid: pid)
        }
        if let name = Self.processName(pid), !name.hasPrefix("postgres"), !name.hasPrefix("postmaster") {
            return .staleLock(pid: pid, holder: "`\(name)`")
        }
        return .running("pid \(pid)")
    }

    func failureDuringStart(_ manifest: ManagedPostgresManifest, since mark: LaunchMark) async -> ManagedPostgresError? {
        if case .running = await self.state(manifest) { return nil }
        let written = LogFile.text(self.paths.logFile, from: mark.logOffset)
        if written.contains("Address already in use") || written.contains("could not bind IPv4 address") {
            return .portInUse(manifest.port)
        }
        if written.contains("FATAL:") || written.contains("PANIC:") {
            return .serverExited(logFile: self.paths.logFile, logTail: LogFile.tail(self.paths.logFile, lines: 20, from: mark.logOffset))
        }
        return nil
    }

    func stop(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws {
        switch await self.state(manifest) {
        case .stopped:
            report("PostgreSQL is not running.")
            return
        case .crashed(let pid):
            try? FileManager.default.removeItem(atPath: self.pidFile)
            report("PostgreSQL is not running (removed a stale postmaster.pid naming process \(pid), which is gone).")
            return
        case .staleLock(let pid, let holder):
            report("PostgreSQL is not running (postmaster.pid names process \(pid), which is \(holder)).")
            return
        case .running, .unknown:
            break
        }
        let command = Command(
            try self.binDirectory(manifest) + "/pg_ctl",
            ["stop", "--pgdata=\(self.paths.clusterDirectory)", "--mode=fast", "--wait", "--timeout=60", "--silent"],
            user: try self.serverUser(manifest)?.name,
            workingDirectory: self.paths.dataDirectory
        )
        let result = try await self.runner.run(command)
        guard result.succeeded else { throw ManagedPostgresError.commandFailed(command, result: result) }
    }

    func remove(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws {}

    func logTail(_ manifest: ManagedPostgresManifest, lines: Int) async -> String {
        LogFile.tail(self.paths.logFile, lines: lines)
    }

    func followLogs(_ manifest: ManagedPostgresManifest, tail: Int, write: @escaping @Sendable (String) -> Void) async throws {
        let start = LogFile.tail(self.paths.logFile, lines: tail)
        if !start.isEmpty { write(start + "\n") }
        var offset = LogFile.size(self.paths.logFile)
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(250))
            let size = LogFile.size(self.paths.logFile)
            if size < offset { offset = 0 }  // the log was truncated or replaced
            guard size > offset else { continue }
            write(LogFile.text(self.paths.logFile, from: offset))
            offset = size
        }
    }

    /// The command name of a process (Linux `/proc`); nil where it cannot be told.
    private static func processName(_ pid: Int32) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/comm") else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
