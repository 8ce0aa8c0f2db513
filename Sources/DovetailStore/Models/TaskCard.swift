/// Kanban columns, in board order.
public enum BoardColumn: String, Sendable, Codable, CaseIterable {
    case backlog, todo
    case inProgress = "in_progress"
    case review, done
}

/// A kanban card. `position` is dense within its column: 0, 1, 2, … with no gaps or repeats.
public struct TaskCard: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id
        case projectId = "project_id"
        case title
        case description
        case column
        case position
        case priority
        case labels
        case assignedAgentId = "assigned_agent_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public var id: String
    public var projectId: String
    public var title: String
    public var description: String
    public var column: BoardColumn
    public var position: Int
    public var priority: Int
    public var labels: JSONValue
    public var assignedAgentId: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

public struct NewTask: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case projectId = "project_id"
        case title
        case description
        case column
        case priority
        case labels
        case assignedAgentId = "assigned_agent_id"
    }

    public var projectId: String
    public var title: String
    public var description: String?
    public var column: BoardColumn?
    public var priority: Int?
    public var labels: JSONValue?
    public var assignedAgentId: String?

    public init(
        projectId: String, title: String, description: String? = nil, column: BoardColumn? = nil,
        priority: Int? = nil, labels: JSONValue? = nil, assignedAgentId: String? = nil
    ) {
        self.projectId = projectId
        self.title = title
        self.description = description
        self.column = column
        self.priority = priority
        self.labels = labels
        self.assignedAgentId = assignedAgentId
    }
}

public struct TaskPatch: Sendable, Codable {
    public var title: String?
    public var description: String?
    public var priority: Int?
    public var labels: JSONValue?
    /// `.some(nil)` unassigns; `nil` leaves the assignment alone.
    public var assignedAgentId: String??

    public init(title: String? = nil, description: String? = nil, priority: Int? = nil, labels: JSONValue? = nil, assignedAgentId: String?? = nil) {
        self.title = title
        self.description = description
        self.priority = priority
        self.labels = labels
        self.assignedAgentId = assignedAgentId
    }
}

extension TaskPatch {
    enum CodingKeys: String, CodingKey {
        case title, description, priority, labels
        case assignedAgentId = "assigned_agent_id"
    }

    /// Decoded by hand so that `"assigned_agent_id": null` (unassign) differs from leaving it out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.title = try container.decodeIfPresent(String.self, forKey: .title)
        self.description = try container.decodeIfPresent(String.self, forKey: .description)
        self.priority = try container.decodeIfPresent(Int.self, forKey: .priority)
        self.labels = try container.decodeIfPresent(JSONValue.self, forKey: .labels)
        if container.contains(.assignedAgentId) {
            self.assignedAgentId = .some(try container.decodeIfPresent(String.self, forKey: .assignedAgentId))
        } else {
            self.assignedAgentId = nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(title, forKey: .title)
        try container.encodeIfPresent(description, forKey: .description)
        try container.encodeIfPresent(priority, forKey: .priority)
        try container.encodeIfPresent(labels, forKey: .labels)
        if let assignedAgentId { try container.encode(assignedAgentId, forKey: .assignedAgentId) }
    }
}
