import SQLKit

/// One search result: a message or a session title.
public struct SearchHit: Sendable, Equatable, Codable {
    enum CodingKeys: String, CodingKey {
        case kind, id, text, score
        case sessionId = "session_id"
        case createdAt = "created_at"
    }

    public enum Kind: String, Sendable, Codable {
        case message, session
    }

    public var kind: Kind
    public var id: String
    public var sessionId: String
    public var text: String
    public var score: Int
    public var createdAt: Timestamp
}

/// Full-text search over message content and session titles.
///
/// Matching is the database's (English stemming on both: PostgreSQL's `english` configuration,
/// SQLite FTS5's Porter tokenizer). Ranking is computed here, from the matched text, so that the
/// same data gives the same order on both backends; the two servers' own rank functions differ.
public struct SearchRepository: Sendable {
    let database: Database
    /// Matches considered for ranking: the most recent ones, the same set on both backends. The
    /// search's cost grows with it (PostgreSQL checks rows newest-first until it has this many), and
    /// 100 keeps a search over 100,000 messages under 20 ms at p95 (docs/benchmarks.md).
    static let candidateLimit = 100

    public init(database: Database) {
        self.database = database
    }

    public func search(_ text: String, projectId: String? = nil, limit: Int = 20) async throws -> [SearchHit] {
        guard (1...100).contains(limit) else { throw StoreError.invalid("limit must be between 1 and 100.", field: "limit") }
        try Validation.id(projectId, field: "project_id")
        let terms = SearchTerms.parse(text)
        guard !terms.isEmpty else {
            throw StoreError.invalid("q must contain at least one word that is not a common stop word.", field: "q")
        }
        let dialect = database.dialect
        let candidates = Self.candidateLimit
        let hits = try await database.read { sql -> [SearchHit] in
            // The newest matches by id, the same candidates on both backends; text is read for those only.
            let walk = try await dialect.prefersNewestFirstWalk(sql, table: "messages", terms: terms, wanted: candidates)
            let messages = try await sql.raw("""
                SELECT m.id, m.session_id, m.content AS text, m.created_at
                FROM \(dialect.fullTextSource(table: "messages", alias: "m", walkNewestFirst: walk)) JOIN sessions s ON s.id = m.session_id
                WHERE \(dialect.fullTextCondition(table: "messages", alias: "m", terms: terms))
                  AND s.deleted_at IS NULL AND (\(bind: projectId == nil) OR s.project_id = \(bind: projectId ?? ""))
                ORDER BY m.id DESC LIMIT \(bind: candidates)
                """).all()
            let sessions = try await sql.raw("""
                SELECT s.id, s.id AS session_id, s.title AS text, s.created_at FROM sessions s
                WHERE \(dialect.fullTextCondition(table: "sessions", alias: "s", terms: terms))
                  AND s.deleted_at IS NULL AND (\(bind: projectId == nil) OR s.project_id = \(bind: projectId ?? ""))
                ORDER BY s.id DESC LIMIT \(bind: candidates)
                """).all()
            func hit(_ row: any SQLRow, kind: SearchHit.Kind) throws -> SearchHit {
                let body = try row.decode(column: "text", as: String.self)
                return SearchHit(
                    kind: kind, id: try row.decode(column: "id", as: String.self), sessionId: try row.decode(column: "session_id", as: String.self),
                    text: body, score: SearchTerms.score(body, terms: terms), createdAt: try row.decode(column: "created_at", as: Timestamp.self)
                )
            }
            return try messages.map { try hit($0, kind: .message) } + sessions.map { try hit($0, kind: .session) }
        }
        return Array(hits.sorted { a, b in
            if a.score != b.score { return a.score > b.score }
            if a.createdAt != b.createdAt { return a.createdAt > b.createdAt }
            return a.id > b.id
        }.prefix(limit))
    }
}

/// Query words and the backend-independent score.
enum SearchTerms {
    /// PostgreSQL's English stop words (a subset that covers its list's common entries); dropped
    /// from queries on both backends so that FTS5, which keeps them, matches the same rows.
    static let stopWords: Set<String> = [
        "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been",
        "before", "being", "below", "between", "both", "but", "by", "can", "did", "do", "does", "doing", "don", "down", "during", "each",
        "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his",
        "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now",
        "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "s", "same", "she", "should",
        "so", "some", "such", "t", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this",
        "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
        "who", "whom", "why", "will", "with", "you", "your", "yours", "yourself", "yourselves",
    ]

    static func words(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    /// Lower-cased words of letters and digits only (so nothing can reach either server's query
    /// syntax), stop words removed, at most eight.
    static func parse(_ text: String) -> [String] {
        var seen = Set<String>()
        return words(text).filter { $0.count <= 64 && !stopWords.contains($0) && seen.insert($0).inserted }.prefix(8).map { $0 }
    }

    /// Lower-cased words of letters and digits as UTF-8 bytes, for scoring: a search scores 200
    /// texts, and byte arrays are an order of magnitude quicker than `String`'s grapheme-aware
    /// operations (8 ms → under 1 ms per search). ASCII is handled inline; other scalars count as
    /// word characters when Unicode calls them alphabetic or numeric.
    static func wordBytes(_ text: String) -> [[UInt8]] {
        var words: [[UInt8]] = []
        var current: [UInt8] = []
        for scalar in text.unicodeScalars {
            let value = scalar.value
            if value < 0x80 {
                switch value {
                case 0x61...0x7A, 0x30...0x39: current.append(UInt8(value))
                case 0x41...0x5A: current.append(UInt8(value + 0x20))
                default:
                    if !current.isEmpty { words.append(current); current.removeAll(keepingCapacity: true) }
                }
            } else if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                current.append(contentsOf: String(scalar).lowercased().utf8)
            } else if !current.isEmpty {
                words.append(current)
                current.removeAll(keepingCapacity: true)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    static let suffixes: [[UInt8]] = ["ingly", "edly", "ing", "ies", "ied", "ed", "es", "ly", "s"].map { Array($0.utf8) }

    /// A crude stem: enough to count "deploying" and "deployed" as "deploy" when scoring.
    static func stem(_ word: [UInt8]) -> ArraySlice<UInt8> {
        for suffix in suffixes where word.count > suffix.count + 2 && word.suffix(suffix.count).elementsEqual(suffix) {
            return word.dropLast(suffix.count)
        }
        return word[...]
    }

    /// Occurrences of the query's stems in the text (as words or word prefixes), with distinct
    /// terms weighted above repeats.
    static func score(_ text: String, terms: [String]) -> Int {
        let stems = wordBytes(text).map(stem)
        var distinct = 0
        var occurrences = 0
        for term in terms {
            let termStem = stem(wordBytes(term).first ?? [])
            guard !termStem.isEmpty else { continue }
            var count = 0
            for word in stems where word.starts(with: termStem) { count += 1 }
            if count > 0 { distinct += 1 }
            occurrences += count
        }
        return distinct * 1000 + min(occurrences, 999)
    }
}
