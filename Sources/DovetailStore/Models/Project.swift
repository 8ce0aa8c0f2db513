/// A workspace that groups agents, tasks and sessions.
public struct Project: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case id
        case name
        case slug
        case description
        case settings
        case archived
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }

    public var id: String
    public var name: String
    public var slug: String
    public var description: String
    public var settings: JSONValue
    public var archived: Bool
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
}

public struct NewProject: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case name
        case slug
        case description
        case settings
    }

    public var name: String
    public var slug: String?
    public var description: String?
    public var settings: JSONValue?

    public init(name: String, slug: String? = nil, description: String? = nil, settings: JSONValue? = nil) {
        self.name = name
        self.slug = slug
        self.description = description
        self.settings = settings
    }
}

public struct ProjectPatch: Sendable, Codable {
    enum CodingKeys: String, CodingKey {
        case name
        case slug
        case description
        case settings
        case archived
    }

    public var name: String?
    public var slug: String?
    public var description: String?
    public var settings: JSONValue?
    public var archived: Bool?

    public init(name: String? = nil, slug: String? = nil, description: String? = nil, settings: JSONValue? = nil, archived: Bool? = nil) {
        self.name = name
        self.slug = slug
        self.description = description
        self.settings = settings
        self.archived = archived
    }
}
