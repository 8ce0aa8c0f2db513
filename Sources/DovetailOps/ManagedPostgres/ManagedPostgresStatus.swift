/// What `dovetail postgres status` reports: one line each, or JSON. Holds no password (the URL is redacted).
public struct ManagedPostgresStatus: Sendable, Encodable, Equatable {
    public var initialised: Bool
    public var engine: ManagedPostgresEngine?
    public var dataDirectory: String
    public var port: Int?
    /// `DATABASE_URL` with the password shown as `***`.
    public var url: String?

    public var engineAvailable: Bool
    public var engineDetail: String
    public var serverRunning: Bool
    public var serverDetail: String
    public var acceptingConnections: Bool
    public var connectionDetail: String
    /// Nil when it could not be tried (nothing accepts connections).
    public var credentialsValid: Bool?
    public var serverVersion: String?
    /// The highest applied Dovetail migration; nil before the first `dovetail db migrate` (or when unknown).
    public var schemaVersion: Int?
    public var latestSchemaVersion: Int
    /// Whether the `vector` extension can be created on this server; nil when unknown.
    public var vectorAvailable: Bool?
    /// Whether it is already created in the database.
    public var vectorInstalled: Bool?

    /// The engine is available, the server runs, accepts connections and the credentials of `.env` log in.
    public var healthy: Bool
    /// What is wrong, each with what to do about it.
    public var problems: [String]

    enum CodingKeys: String, CodingKey {
        case initialised
        case engine
        case dataDirectory = "data_directory"
        case port
        case url
        case engineAvailable = "engine_available"
        case engineDetail = "engine_detail"
        case serverRunning = "server_running"
        case serverDetail = "server_detail"
        case acceptingConnections = "accepting_connections"
        case connectionDetail = "connection_detail"
        case credentialsValid = "credentials_valid"
        case serverVersion = "server_version"
        case schemaVersion = "schema_version"
        case latestSchemaVersion = "latest_schema_version"
        case vectorAvailable = "vector_available"
        case vectorInstalled = "vector_installed"
        case healthy
        case problems
    }

    public func encode(to encoder: any Encoder) throws {
        // Unknown values are written as null rather than left out, so scripts can rely on every key being present.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.initialised, forKey: .initialised)
        try container.encode(self.engine, forKey: .engine)
        try container.encode(self.dataDirectory, forKey: .dataDirectory)
        try container.encode(self.port, forKey: .port)
        try container.encode(self.url, forKey: .url)
        try container.encode(self.engineAvailable, forKey: .engineAvailable)
        try container.encode(self.engineDetail, forKey: .engineDetail)
        try container.encode(self.serverRunning, forKey: .serverRunning)
        try container.encode(self.serverDetail, forKey: .serverDetail)
        try container.encode(self.acceptingConnections, forKey: .acceptingConnections)
        try container.encode(self.connectionDetail, forKey: .connectionDetail)
        try container.encode(self.credentialsValid, forKey: .credentialsValid)
        try container.encode(self.serverVersion, forKey: .serverVersion)
        try container.encode(self.schemaVersion, forKey: .schemaVersion)
        try container.encode(self.latestSchemaVersion, forKey: .latestSchemaVersion)
        try container.encode(self.vectorAvailable, forKey: .vectorAvailable)
        try container.encode(self.vectorInstalled, forKey: .vectorInstalled)
        try container.encode(self.healthy, forKey: .healthy)
        try container.encode(self.problems, forKey: .problems)
    }

    /// One line per check, as `status` prints them.
    public var lines: [String] {
        func yesNo(_ value: Bool?) -> String {
            switch value {
            case true?: "yes"
            case false?: "no"
            case nil: "unknown"
            }
        }
        var lines: [String] = []
        let engineName = self.engine.map { "\($0.rawValue): " } ?? ""
        lines.append("engine available: \(yesNo(self.engineAvailable)) (\(engineName)\(self.engineDetail))")
        lines.append("server running: \(yesNo(self.serverRunning)) (\(self.serverDetail))")
        lines.append("accepting connections: \(yesNo(self.acceptingConnections)) (\(self.connectionDetail))")
        lines.append("credentials valid: \(yesNo(self.credentialsValid))" + (self.url.map { " (\($0))" } ?? ""))
        lines.append("server version: \(self.serverVersion ?? "unknown")")
        let schema: String
        if let schemaVersion = self.schemaVersion {
            schema =
                "\(schemaVersion) (latest \(self.latestSchemaVersion))"
                + (schemaVersion < self.latestSchemaVersion ? "; run `dovetail db migrate`" : "")
        } else if self.acceptingConnections, self.credentialsValid == true {
            schema = "none (latest \(self.latestSchemaVersion)); `dovetail db migrate` or `dovetail serve` creates it"
        } else {
            schema = "unknown"
        }
        lines.append("dovetail schema version: \(schema)")
        let vector: String
        switch (self.vectorAvailable, self.vectorInstalled) {
        case (true?, true?): vector = "yes (installed in the database)"
        case (true?, _): vector = "yes (not yet installed in the database: CREATE EXTENSION vector)"
        case (false?, _): vector = "no (install pgvector for this PostgreSQL, e.g. `apt-get install postgresql-<version>-pgvector`)"
        case (nil, _): vector = "unknown"
        }
        lines.append("vector extension available: \(vector)")
        lines.append(self.healthy ? "status: healthy" : "status: unhealthy — " + self.problems.joined(separator: "; "))
        return lines
    }
}
