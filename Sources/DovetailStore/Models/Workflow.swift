/// A named, versioned workflow of a project. Its handle is unique among the project's
/// non-archived workflows, so an archived handle can be used again.
public struct Workflow: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id, handle, name, description, archived
        case projectId = "project_id"
        case latestVersion = "latest_version"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public var id: String
    public var projectId: String
    public var handle: String
    public var name: String
    public var description: String
    public var archived: Bool
    public var latestVersion: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

public struct NewWorkflow: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case handle, name, description
        case projectId = "project_id"
    }

    public var projectId: String
    public var handle: String
    public var name: String?
    public var description: String?

    public init(projectId: String, handle: String, name: String? = nil, description: String? = nil) {
        self.projectId = projectId
        self.handle = handle
        self.name = name
        self.description = description
    }
}

public struct WorkflowVersion: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id, version, definition
        case workflowId = "workflow_id"
        case createdAt = "created_at"
    }

    public var id: String
    public var workflowId: String
    public var version: Int64
    public var definition: JSONValue
    public var createdAt: Timestamp
}

public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case pending, running, succeeded, failed, cancelled

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}

public struct Run: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id, status, inputs, outputs, error, metadata, attempts
        case workflowId = "workflow_id"
        case workflowVersion = "workflow_version"
        case workerId = "worker_id"
        case leaseExpiresAt = "lease_expires_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public var id: String
    public var workflowId: String
    public var workflowVersion: Int64
    public var status: RunStatus
    public var inputs: JSONValue
    public var outputs: JSONValue?
    public var error: String?
    public var metadata: JSONValue
    public var workerId: String?
    public var leaseExpiresAt: Timestamp?
    public var attempts: Int64
    public var startedAt: Timestamp?
    public var finishedAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

public struct NewRun: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case version, inputs, metadata
        case workflowId = "workflow_id"
    }

    public var workflowId: String
    /// Defaults to the workflow's latest version.
    public var version: Int64?
    public var inputs: JSONValue?
    public var metadata: JSONValue?

    public init(workflowId: String, version: Int64? = nil, inputs: JSONValue? = nil, metadata: JSONValue? = nil) {
        self.workflowId = workflowId
        self.version = version
        self.inputs = inputs
        self.metadata = metadata
    }
}

public enum StepStatus: String, Sendable, Codable, CaseIterable {
    case running, succeeded, failed, skipped
}

public struct RunStep: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id, name, status, output
        case runId = "run_id"
        case stepIndex = "step_index"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case createdAt = "created_at"
    }

    public var id: String
    public var runId: String
    public var stepIndex: Int64
    public var name: String
    public var status: StepStatus
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var output: JSONValue
    public var createdAt: Timestamp
}

public struct NewRunStep: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case name, status, output
        case stepIndex = "step_index"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
    }

    public var stepIndex: Int64
    public var name: String
    public var status: StepStatus
    public var inputTokens: Int64?
    public var outputTokens: Int64?
    public var output: JSONValue?

    public init(stepIndex: Int64, name: String, status: StepStatus, inputTokens: Int64? = nil, outputTokens: Int64? = nil, output: JSONValue? = nil) {
        self.stepIndex = stepIndex
        self.name = name
        self.status = status
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.output = output
    }
}

/// How a run ends: with outputs (succeeded), an error (failed) or cancelled.
public struct RunCompletion: Sendable, Codable {
    public var status: RunStatus
    public var outputs: JSONValue?
    public var error: String?

    public init(status: RunStatus, outputs: JSONValue? = nil, error: String? = nil) {
        self.status = status
        self.outputs = outputs
        self.error = error
    }
}

public struct Checkpoint: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id, metrics
        case workflowId = "workflow_id"
        case runId = "run_id"
        case configVersion = "config_version"
        case isBest = "is_best"
        case createdAt = "created_at"
    }

    public var id: String
    public var workflowId: String
    public var runId: String?
    public var configVersion: String
    public var metrics: JSONValue
    public var isBest: Bool
    public var createdAt: Timestamp
}

public struct NewCheckpoint: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case metrics
        case runId = "run_id"
        case configVersion = "config_version"
        case isBest = "is_best"
    }

    public var runId: String?
    public var configVersion: String
    public var metrics: JSONValue?
    public var isBest: Bool?

    public init(runId: String? = nil, configVersion: String, metrics: JSONValue? = nil, isBest: Bool? = nil) {
        self.runId = runId
        self.configVersion = configVersion
        self.metrics = metrics
        self.isBest = isBest
    }
}
