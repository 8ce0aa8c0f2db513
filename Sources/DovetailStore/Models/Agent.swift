public enum AgentStatus: String, Sendable, Codable, CaseIterable {
    case registered, deploying, deployed, failed, undeployed
}

/// An agent registered in a project; deployment fields are filled by `dovetail agents deploy`.
public struct Agent: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id
        case projectId = "project_id"
        case name
        case kind
        case configuration
        case status
        case databaseName = "database_name"
        case databaseBackend = "database_backend"
        case lastError = "last_error"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public var id: String
    public var projectId: String
    public var name: String
    public var kind: String
    public var configuration: JSONValue
    public var status: AgentStatus
    public var databaseName: String?
    public var databaseBackend: String?
    public var lastError: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

public struct NewAgent: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case projectId = "project_id"
        case name
        case kind
        case configuration
    }

    public var projectId: String
    public var name: String
    public var kind: String?
    public var configuration: JSONValue?

    public init(projectId: String, name: String, kind: String? = nil, configuration: JSONValue? = nil) {
        self.projectId = projectId
        self.name = name
        self.kind = kind
        self.configuration = configuration
    }
}

public struct AgentPatch: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case name
        case kind
        case configuration
        case status
        case lastError = "last_error"
    }

    public var name: String?
    public var kind: String?
    public var configuration: JSONValue?
    public var status: AgentStatus?
    public var lastError: String?

    public init(name: String? = nil, kind: String? = nil, configuration: JSONValue? = nil, status: AgentStatus? = nil, lastError: String? = nil) {
        self.name = name
        self.kind = kind
        self.configuration = configuration
        self.status = status
        self.lastError = lastError
    }
}
