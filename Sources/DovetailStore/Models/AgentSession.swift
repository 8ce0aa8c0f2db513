public enum SessionStatus: String, Sendable, Codable, CaseIterable {
    case active, paused, completed, failed, archived
}

/// An agent conversation. Deleting one only marks it (`deletedAt`); retention purges it later.
public struct AgentSession: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id
        case projectId = "project_id"
        case agentId = "agent_id"
        case userId = "user_id"
        case title
        case status
        case metadata
        case messageCount = "message_count"
        case lastEventSeq = "last_event_seq"
        case lastViewedAt = "last_viewed_at"
        case deletedAt = "deleted_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public var id: String
    public var projectId: String
    public var agentId: String?
    public var userId: String?
    public var title: String
    public var status: SessionStatus
    public var metadata: JSONValue
    public var messageCount: Int64
    public var lastEventSeq: Int64
    public var lastViewedAt: Timestamp?
    public var deletedAt: Timestamp?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

public struct NewSession: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case projectId = "project_id"
        case agentId = "agent_id"
        case userId = "user_id"
        case title
        case metadata
    }

    public var projectId: String
    public var agentId: String?
    public var userId: String?
    public var title: String?
    public var metadata: JSONValue?

    public init(projectId: String, agentId: String? = nil, userId: String? = nil, title: String? = nil, metadata: JSONValue? = nil) {
        self.projectId = projectId
        self.agentId = agentId
        self.userId = userId
        self.title = title
        self.metadata = metadata
    }
}

public struct SessionPatch: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case title
        case status
        case metadata
        case markViewed = "mark_viewed"
    }

    public var title: String?
    public var status: SessionStatus?
    public var metadata: JSONValue?
    public var markViewed: Bool?

    public init(title: String? = nil, status: SessionStatus? = nil, metadata: JSONValue? = nil, markViewed: Bool? = nil) {
        self.title = title
        self.status = status
        self.metadata = metadata
        self.markViewed = markViewed
    }
}

public enum MessageRole: String, Sendable, Codable, CaseIterable {
    case system, user, assistant, tool
}

public struct Message: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id
        case sessionId = "session_id"
        case ordinal
        case role
        case content
        case metadata
        case createdAt = "created_at"
    }

    public var id: String
    public var sessionId: String
    public var ordinal: Int64
    public var role: MessageRole
    public var content: String
    public var metadata: JSONValue
    public var createdAt: Timestamp
}

public struct NewMessage: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case role
        case content
        case metadata
    }

    public var role: MessageRole
    public var content: String
    public var metadata: JSONValue?

    public init(role: MessageRole, content: String, metadata: JSONValue? = nil) {
        self.role = role
        self.content = content
        self.metadata = metadata
    }
}

/// One entry of a session's event log; `seq` is 1, 2, 3, … within the session.
public struct SessionEvent: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id
        case sessionId = "session_id"
        case seq
        case type
        case payload
        case createdAt = "created_at"
    }

    public var id: String
    public var sessionId: String
    public var seq: Int64
    public var type: String
    public var payload: JSONValue
    public var createdAt: Timestamp
}

public struct NewSessionEvent: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case type
        case payload
    }

    public var type: String
    public var payload: JSONValue?

    public init(type: String, payload: JSONValue? = nil) {
        self.type = type
        self.payload = payload
    }
}
