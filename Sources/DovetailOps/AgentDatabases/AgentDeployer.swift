import DovetailStore
import Foundation
import Logging

/// The agent lifecycle: provision the agent's database, run the launch step with its `DATABASE_URL`,
/// and record the outcome on the agent row (`status`, `database_name`, `database_backend`, `last_error`).
///
/// If provisioning fails the launch step does not run and the agent is `failed` with the reason; a
/// re-deploy finishes whatever a failed one left, because every provisioning step is idempotent.
///
/// Operations on one agent run one at a time (`AgentOperationLocks`; across processes the PostgreSQL
/// provisioner's advisory lock), and the agent's password is masked in every output and error kept or returned.
public struct AgentDeployer: Sendable {
    public let store: Store
    public let configuration: AgentDatabaseConfiguration
    public let provisioner: any AgentDatabaseProvisioner
    public let spareRefill: SpareRefill

    /// When the pool of spare databases (`AGENT_DB_SPARE_DATABASES`) is topped up after a deploy made a new database.
    public enum SpareRefill: Sendable {
        /// In a task of its own, started as soon as the database is provisioned, so the refill's
        /// `CREATE DATABASE` overlaps the launch step and never delays the answer (`dovetail serve`).
        case background
        /// Before `deploy` returns: deterministic, for tests.
        case beforeReturning
        /// Not by `deploy`; the caller calls `refillSpares` itself (the CLI, after printing the result).
        case byCaller
    }

    public init(
        store: Store, configuration: AgentDatabaseConfiguration, provisioner: (any AgentDatabaseProvisioner)? = nil,
        spareRefill: SpareRefill = .background
    ) {
        self.store = store
        self.configuration = configuration
        self.provisioner = provisioner ?? configuration.makeProvisioner()
        self.spareRefill = spareRefill
    }

    /// Tops the spare pool up, logging (not throwing) a failure: the deploy that asked for it has succeeded,
    /// and the next deploy falls back to `CREATE DATABASE` and asks again.
    public func refillSpares(logger: Logger) async {
        do {
            try await provisioner.refillSpares(logger: logger)
        } catch {
            logger.warning("Could not refill the spare agent databases", metadata: ["error": "\(message(for: error))"])
        }
    }

    public struct Outcome: Sendable {
        public var agent: Agent
        /// The agent's database after the operation; nil after an undeploy that dropped it.
        public var database: AgentDatabase?
        /// Output of the launch command, with the agent's URL and password masked; nil when none ran.
        public var commandOutput: String?
        /// Undeploy only: whether a database was dropped.
        public var dropped: Bool = false
    }

    // MARK: deploy / update / undeploy

    /// Creates or reuses the agent's database, then runs `AGENT_DEPLOY_COMMAND`.
    public func deploy(_ agentId: String, configFile: String? = nil, logger: Logger) async throws -> Outcome {
        try await withAgentLock(agentId) { try await deployHoldingLock(agentId, configFile: configFile, logger: logger) }
    }

    private func deployHoldingLock(_ agentId: String, configFile: String?, logger: Logger) async throws -> Outcome {
        let agent = try await store.agents.get(agentId)
        try await store.agents.recordDeployment(
            agent.id, status: .deploying, databaseName: agent.databaseName, databaseBackend: agent.databaseBackend, lastError: nil
        )
        let database: AgentDatabase
        do {
            database = try await provisioner.provision(agentId: agent.id, logger: logger)
        } catch {
            try await recordFailure(agent, databaseName: agent.databaseName, backend: agent.databaseBackend, error: error, logger: logger)
            throw error
        }
        // A new database took a spare, or found none: either way the pool is (or was) short.
        let refill = database.created && database.backend == "postgres" && configuration.spareDatabases > 0
        if refill && spareRefill == .background {
            let deployer = self
            Task { await deployer.refillSpares(logger: logger) }
        }
        var output: String?
        do {
            output = try await launch(configuration.deployCommand, agent: agent, database: database, configFile: configFile, logger: logger)
        } catch {
            try await recordFailure(agent, databaseName: database.name, backend: database.backend, error: error, mask: AgentSecretMask(database), logger: logger)
            throw error
        }
        let updated = try await store.agents.recordDeployment(
            agent.id, status: .deployed, databaseName: database.name, databaseBackend: database.backend, lastError: nil
        )
        logger.info("Agent deployed", metadata: ["agent": "\(agent.id)", "database": "\(database.name)", "reused": "\(!database.created)"])
        if refill && spareRefill == .beforeReturning { await refillSpares(logger: logger) }
        return Outcome(agent: updated, database: database, commandOutput: output)
    }

    /// Runs `AGENT_UPDATE_COMMAND` with the agent's existing database; never creates one.
    public func update(_ agentId: String, configFile: String? = nil, logger: Logger) async throws -> Outcome {
        try await withAgentLock(agentId) { try await updateHoldingLock(agentId, configFile: configFile, logger: logger) }
    }

    private func updateHoldingLock(_ agentId: String, configFile: String?, logger: Logger) async throws -> Outcome {
        let agent = try await store.agents.get(agentId)
        let database = try await provisioner.locate(agentId: agent.id, logger: logger)
        var output: String?
        do {
            output = try await launch(configuration.updateCommand, agent: agent, database: database, configFile: configFile, logger: logger)
        } catch {
            try await recordFailure(agent, databaseName: database.name, backend: database.backend, error: error, mask: AgentSecretMask(database), logger: logger)
            throw error
        }
        let updated = try await store.agents.recordDeployment(
            agent.id, status: .deployed, databaseName: database.name, databaseBackend: database.backend, lastError: nil
        )
        return Outcome(agent: updated, database: database, commandOutput: output)
    }

    /// Runs `AGENT_UNDEPLOY_COMMAND`, then drops the database and role when `dropDatabase` (default
    /// `CLEANUP_AGENT_DATABASES`) is true. Works on a failed agent: a failing undeploy command is then only logged.
    public func undeploy(_ agentId: String, dropDatabase: Bool? = nil, logger: Logger) async throws -> Outcome {
        try await withAgentLock(agentId) { try await undeployHoldingLock(agentId, dropDatabase: dropDatabase, logger: logger) }
    }

    private func undeployHoldingLock(_ agentId: String, dropDatabase: Bool?, logger: Logger) async throws -> Outcome {
        let agent = try await store.agents.get(agentId)
        let drop = dropDatabase ?? configuration.cleanupOnUndeploy
        var output: String?
        if configuration.undeployCommand != nil {
            let database = try? await provisioner.locate(agentId: agent.id, logger: logger)
            let mask = AgentSecretMask(database)
            do {
                output = try await launch(configuration.undeployCommand, agent: agent, database: database, configFile: nil, logger: logger)
            } catch {
                guard agent.status == .failed || agent.status == .registered || agent.status == .undeployed else {
                    try await store.agents.recordDeployment(
                        agent.id, status: agent.status, databaseName: agent.databaseName, databaseBackend: agent.databaseBackend,
                        lastError: mask.apply(message(for: error))
                    )
                    throw error
                }
                logger.warning(
                    "Undeploy command failed for an agent that was not running", metadata: ["agent": "\(agent.id)", "error": "\(mask.apply(message(for: error)))"]
                )
            }
        }
        var dropped = false
        if drop {
            dropped = try await provisioner.drop(agentId: agent.id, logger: logger)
        }
        let updated = try await store.agents.recordDeployment(
            agent.id, status: .undeployed, databaseName: drop ? nil : agent.databaseName, databaseBackend: drop ? nil : agent.databaseBackend,
            lastError: nil
        )
        return Outcome(agent: updated, database: nil, commandOutput: output, dropped: dropped)
    }

    // MARK: Helpers

    /// Runs `body` holding the agent's lock, keyed by its id (callers may name the agent by id or by name); `body`
    /// reads the agent again, so it sees what an operation that held the lock before it left.
    private func withAgentLock<T: Sendable>(_ agentId: String, _ body: () async throws -> T) async throws -> T {
        let id = try await store.agents.get(agentId).id
        return try await AgentOperationLocks.shared.withLock(id, body)
    }

    private func recordFailure(
        _ agent: Agent, databaseName: String?, backend: String?, error: any Error, mask: AgentSecretMask = AgentSecretMask(nil), logger: Logger
    ) async throws {
        let reason = mask.apply(message(for: error))
        logger.error("Agent deployment failed", metadata: ["agent": "\(agent.id)", "error": "\(reason)"])
        try await store.agents.recordDeployment(agent.id, status: .failed, databaseName: databaseName, databaseBackend: backend, lastError: reason)
    }

    func message(for error: any Error) -> String {
        switch error {
        case let error as AgentDatabaseError: error.message
        case let error as StoreError: error.message
        default: String(describing: error)
        }
    }

    /// Substitutes `{{ id }}`, `{{ database_url }}` and `{{ config_file }}` (each shell-quoted) into
    /// `template` and runs it with `/bin/sh -c`, `DATABASE_URL` in its environment. Returns its output.
    func launch(_ template: String?, agent: Agent, database: AgentDatabase?, configFile: String?, logger: Logger) async throws -> String? {
        guard let template else { return nil }
        let configPath = try configFile.map(checkedConfigFile) ?? writeConfiguration(of: agent)
        let command = Self.render(template, values: ["id": agent.id, "database_url": database?.url ?? "", "config_file": configPath])
        var environment = ProcessInfo.processInfo.environment
        for key in ["AGENT_DB_ADMIN_PASSWORD", "AGENT_DB_ADMIN_USER"] { environment.removeValue(forKey: key) }
        environment["DATABASE_URL"] = database?.url ?? ""
        environment["AGENT_ID"] = agent.id
        environment["AGENT_CONFIG_FILE"] = configPath
        environment["AGENT_DATABASE_NAME"] = database?.name ?? ""
        let result = try await ChildProcess.run(["/bin/sh", "-c", command], environment: environment)
        // Masked before anything is kept: the output is returned, and its tail goes into the error and `last_error`.
        let output = AgentSecretMask(database).apply(result.output)
        guard result.status == 0 else {
            let tail = output.split(separator: "\n", omittingEmptySubsequences: true).suffix(5).joined(separator: "\n")
            throw AgentDatabaseError(.launch, "The launch command exited with status \(result.status)" + (tail.isEmpty ? "." : ": \(tail)"))
        }
        return output
    }

    /// `{{ name }}` (spaces inside the braces optional) → the shell-quoted value.
    static func render(_ template: String, values: [String: String]) -> String {
        var result = template
        for (key, value) in values {
            for spelling in ["{{ \(key) }}", "{{\(key)}}", "{{ \(key)}}", "{{\(key) }}"] {
                result = result.replacingOccurrences(of: spelling, with: ChildProcess.shellQuote(value))
            }
        }
        return result
    }

    private func checkedConfigFile(_ path: String) throws -> String {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw AgentDatabaseError(.configuration, "--config \(path): no such readable file.")
        }
        return path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The agent's `configuration` JSON at `DOVETAIL_DATA_DIR/agents/agent-{id}.json` (mode 0600).
    private func writeConfiguration(of agent: Agent) throws -> String {
        let directory = configuration.absoluteDataDirectory + "/agents"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/agent-\(AgentDatabaseName.sanitise(agent.id)).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let data = try encoder.encode(agent.configuration)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw AgentDatabaseError(.configuration, "Cannot write the agent's configuration to \(path): check that DOVETAIL_DATA_DIR is writable.")
        }
        return path
    }
}
