import Foundation

/// The server run in a container by Docker Compose, from the `compose.yml` that `init` writes in the project directory.
///
/// Every `docker` command goes through the `CommandRunner`, so tests record them instead of needing a Docker daemon.
/// No command carries the password: Compose reads it from `.env` (`--env-file`).
struct DockerServerEngine: ManagedServerEngine {
    let paths: ManagedPostgresPaths
    let runner: any CommandRunner

    /// `docker compose` with the project, the `.env` and the file named explicitly, so it never picks up another
    /// project's files from the working directory.
    func compose(_ arguments: [String], timeout: Duration? = .seconds(120)) -> Command {
        Command(
            "docker",
            ["compose", "--project-directory", self.paths.projectDirectory, "--env-file", self.paths.envFile, "--file", self.paths.composeFile]
                + arguments,
            timeout: timeout
        )
    }

    func checkAvailable() async throws -> String {
        let info: CommandResult
        do {
            info = try await self.runner.run(Command("docker", ["info", "--format", "{{.ServerVersion}}"], timeout: .seconds(20)))
        } catch let error as CommandRunnerError where error.isExecutableNotFound {
            throw ManagedPostgresError.dockerNotInstalled
        }
        guard info.succeeded else {
            throw ManagedPostgresError.dockerDaemonNotRunning(
                detail: info.timedOut ? "`docker info` did not answer within 20 s" : Self.firstLine(info.output))
        }
        let compose = try await self.runner.run(Command("docker", ["compose", "version", "--short"], timeout: .seconds(20)))
        guard compose.succeeded else {
            throw ManagedPostgresError.dockerComposeNotInstalled(detail: Self.firstLine(compose.output))
        }
        return "Docker \(Self.firstLine(info.output)), Compose \(Self.firstLine(compose.output))"
    }

    func prepare(_ setup: ServerSetup, report: ManagedPostgres.Reporter) async throws -> ManagedPostgresManifest {
        if let existing = FileManager.default.contents(atPath: self.paths.composeFile),
            !ComposeFile.isOurs(String(decoding: existing, as: UTF8.self)), !setup.force
        {
            throw ManagedPostgresError.composeFileNotOurs(path: self.paths.composeFile)
        }
        try ManagedPostgresPaths.createPrivateDirectory(self.paths.dataDirectory, named: self.paths.dataDirectorySetting)
        try ManagedPostgresPaths.createPrivateDirectory(self.paths.clusterDirectory, named: self.paths.dataDirectorySetting + "/pgdata")
        let owner: (uid: UInt32, gid: UInt32)? = SystemUser.isRoot ? nil : (UInt32(SystemUser.current.uid), UInt32(SystemUser.current.gid))
        let contents = ComposeFile.render(
            port: setup.port,
            clusterDirectory: self.paths.dataDirectoryFromProject + "/pgdata",
            owner: owner
        )
        do {
            try Data(contents.utf8).write(to: URL(fileURLWithPath: self.paths.composeFile), options: .atomic)
        } catch {
            throw ManagedPostgresError.system("cannot write \(self.paths.composeFile): \(error.localizedDescription)")
        }
        let data = self.paths.dataDirectorySetting + "/pgdata"
        report("Wrote \(self.paths.composeFile) (image \(ComposeFile.image), port 127.0.0.1:\(setup.port), data in \(data)).")
        return ManagedPostgresManifest(
            engine: .docker,
            port: setup.port,
            runAs: nil,
            binDirectory: nil,
            image: ComposeFile.image,
            createdAt: ISO8601DateFormatter().string(from: Date())
        )
    }

    func launch(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws -> LaunchMark {
        if await !self.state(manifest).isRunning, !LocalPort.isFree(manifest.port) {
            throw ManagedPostgresError.portInUse(manifest.port)
        }
        // Pulling the image the first time can take minutes.
        let command = self.compose(["up", "--detach", ComposeFile.service], timeout: .seconds(900))
        let result = try await self.runner.run(command)
        guard result.succeeded else {
            let output = result.output.lowercased()
            if output.contains("port is already allocated") || output.contains("address already in use") {
                throw ManagedPostgresError.portInUse(manifest.port)
            }
            if output.contains("cannot connect to the docker daemon") || output.contains("is the docker daemon running") {
                throw ManagedPostgresError.dockerDaemonNotRunning(detail: Self.firstLine(result.output))
            }
            throw ManagedPostgresError.commandFailed(command, result: result)
        }
        return LaunchMark(logOffset: 0)
    }

    func state(_ manifest: ManagedPostgresManifest) async -> ServerState {
        let command = self.compose(["ps", "--status", "running", "--quiet", ComposeFile.service], timeout: .seconds(30))
        guard let result = try? await self.runner.run(command) else { return .unknown("docker is not installed") }
        guard result.succeeded else { return .unknown(Self.firstLine(result.output)) }
        let container = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        return container.isEmpty ? .stopped : .running("container \(container.prefix(12))")
    }

    /// The container's own health is not consulted: `start` waits for a connection with the real credentials, which
    /// says more, and reports the container log when it times out.
    func failureDuringStart(_ manifest: ManagedPostgresManifest, since mark: LaunchMark) async -> ManagedPostgresError? {
        nil
    }

    func stop(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws {
        let command = self.compose(["stop", ComposeFile.service])
        let result = try await self.runner.run(command)
        guard result.succeeded else { throw ManagedPostgresError.commandFailed(command, result: result) }
    }

    func remove(_ manifest: ManagedPostgresManifest, report: ManagedPostgres.Reporter) async throws {
        let command = self.compose(["down", "--remove-orphans"])
        let result = try await self.runner.run(command)
        guard result.succeeded else { throw ManagedPostgresError.commandFailed(command, result: result) }
    }

    func logTail(_ manifest: ManagedPostgresManifest, lines: Int) async -> String {
        let command = self.compose(["logs", "--no-color", "--tail", String(lines), ComposeFile.service], timeout: .seconds(30))
        guard let result = try? await self.runner.run(command) else { return "" }
        return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func followLogs(_ manifest: ManagedPostgresManifest, tail: Int, write: @escaping @Sendable (String) -> Void) async throws {
        let command = self.compose(["logs", "--no-color", "--tail", String(tail), "--follow", ComposeFile.service], timeout: nil)
        let status = try await self.runner.runAttached(command)
        // 130: the user pressed Ctrl-C, which is how following ends.
        guard status == 0 || status == 130 else {
            throw ManagedPostgresError.commandFailed(command, result: CommandResult(status: status, output: ""))
        }
    }

    private static func firstLine(_ text: String) -> String {
        let line = text.split(separator: "\n").first { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
        return line.trimmingCharacters(in: .whitespaces)
    }
}
