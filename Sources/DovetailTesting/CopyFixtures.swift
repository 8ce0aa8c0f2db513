import DovetailStore
import Foundation
import SQLKit

/// Data for `db copy` tests: rows holding every value case a copy must keep, a scratch table with the
/// logical types the Dovetail schema does not use yet (binary, double), and bulk rows.
public enum CopyFixtures {
    /// JSON with whitespace, unsorted and duplicated keys, escapes, a number beyond 64 bits and non-canonical
    /// numbers: what a SQLite text column may hold and PostgreSQL's `jsonb` rewrites.
    public static let awkwardJSON = """
        {"z": 1, "a": {"nested": [1, 2.50, "ü", null, true, false, -0, 1e2, 1E-2, 0.000001]},
          "big": 123456789012345678901234567890, "esc": "line\\nbreak \\"q\\" \\\\ \\/ \\u00e9 \\ud83d\\ude00 tab\\t",
          "empty": "", "dup": 1, "dup": 2, "emoji 🚀": {"": []}}
        """

    public static let edgeText = "tab\there\nnew line\r\nback\\slash \\N not null; quotes ' \" ; \\. alone"
    public static let unicodeText = "Ünïcödé 🚀✨ 中文 עברית العربية 👩‍👩‍👧‍👦 e\u{301} \u{200B}zero-width \u{FEFF}bom"

    /// Timestamps with milliseconds, before 1970 and far ahead.
    public static let timestamps: [Timestamp] = [
        Timestamp(millisecondsSince1970: -1),
        Timestamp(iso8601: "2026-02-28T12:34:56.789Z")!,
        Timestamp(iso8601: "2999-12-31T23:59:59.999Z")!,
        Timestamp(iso8601: "1901-01-01T00:00:00.001Z")!,
    ]

    static func json(_ text: String, _ dialect: Dialect) -> SQLQueryString {
        dialect == .postgres ? "CAST(\(bind: text) AS jsonb)" : "\(bind: text)"
    }

    /// Two projects, agents, tasks, sessions, messages and events holding the awkward values.
    public static func seedEdgeCases(_ database: Database) async throws {
        let dialect = database.dialect
        let t = timestamps
        let longText = String(repeating: unicodeText + " " + edgeText + " ", count: 600)
        try await database.write { sql in
            try await sql.raw("""
                INSERT INTO projects (id, name, slug, description, settings, archived, created_at, updated_at) VALUES
                ('p-1', \(bind: unicodeText), 'edge', '', \(json(awkwardJSON, dialect)), \(bind: true), \(bind: t[0]), \(bind: t[1])),
                ('p-2', 'Plain', 'plain', \(bind: edgeText), \(json("{}", dialect)), \(bind: false), \(bind: t[2]), \(bind: t[3]))
                """).run()
            try await sql.raw("""
                INSERT INTO agents (id, project_id, name, kind, configuration, status, database_name, database_backend, last_error, created_at, updated_at) VALUES
                ('a-1', 'p-1', 'agent ''single'' "double"', 'llm', \(json(#"{"model": "x", "temperature": 0.7}"#, dialect)), 'deployed',
                 NULL, '', NULL, \(bind: t[1]), \(bind: t[1])),
                ('a-2', 'p-1', 'second', 'tool', \(json("{}", dialect)), 'failed', 'db\\name', NULL, '', \(bind: t[1]), \(bind: t[2]))
                """).run()
            try await sql.raw("""
                INSERT INTO tasks (id, project_id, title, description, board_column, position, priority, labels, assigned_agent_id, created_at, updated_at) VALUES
                ('t-1', 'p-1', '👩‍👩‍👧‍👦 family', \(bind: edgeText), 'todo', \(bind: Int64.max), \(bind: Int64.min), \(json(#"["a", "b", "ü"]"#, dialect)), 'a-1', \(bind: t[1]), \(bind: t[1])),
                ('t-2', 'p-1', '', '', 'done', 0, 0, \(json("[]", dialect)), NULL, \(bind: t[0]), \(bind: t[3]))
                """).run()
            try await sql.raw("""
                INSERT INTO sessions (id, project_id, agent_id, user_id, title, status, metadata, last_message_ordinal, last_event_seq, last_viewed_at, deleted_at, created_at, updated_at) VALUES
                ('s-1', 'p-1', 'a-1', NULL, '', 'active', \(json(#"{"k": "v", "a": [1, {"b": null}]}"#, dialect)), 3, 2, NULL, \(bind: t[1]), \(bind: t[1]), \(bind: t[1])),
                ('s-2', 'p-2', NULL, 'user ✨', \(bind: unicodeText), 'archived', \(json("{}", dialect)), 0, 0, \(bind: t[3]), NULL, \(bind: t[2]), \(bind: t[2]))
                """).run()
            try await sql.raw("""
                INSERT INTO messages (id, session_id, ordinal, role, content, metadata, created_at) VALUES
                ('m-1', 's-1', 1, 'user', \(bind: longText), \(json(awkwardJSON, dialect)), \(bind: t[1])),
                ('m-2', 's-1', 2, 'assistant', '', \(json("{}", dialect)), \(bind: t[1])),
                ('m-3', 's-1', 3, 'tool', \(bind: edgeText), \(json(#"{"tool": "grep", "args": ["-n", "\\t"]}"#, dialect)), \(bind: t[3]))
                """).run()
            var deep = "0"
            for level in 0..<60 { deep = level.isMultiple(of: 2) ? "[\(deep)]" : #"{"l\#(level)": \#(deep)}"# }
            try await sql.raw("""
                INSERT INTO session_events (id, session_id, seq, type, payload, created_at) VALUES
                ('e-1', 's-1', 1, 'started', \(json(deep, dialect)), \(bind: t[1])),
                ('e-2', 's-1', 2, 'finished', \(json(#"{"b": 1, "a": 2, "c": {"y": [], "x": {}}}"#, dialect)), \(bind: t[2]))
                """).run()
        }
    }

    /// `copy_scratch`: one column of every logical type, an integer key fed by a counter (AUTOINCREMENT /
    /// identity), and a search index each database derives for itself (an FTS5 table kept by triggers on
    /// SQLite, a generated `tsvector` column on PostgreSQL) — the shape of the search the schema grows.
    public static func createScratchTable(_ database: Database) async throws {
        let statements: [String]
        switch database.dialect {
        case .sqlite:
            statements = [
                """
                CREATE TABLE copy_scratch (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT, data BLOB, ratio DOUBLE,
                    flag BOOLEAN_INTEGER, at TIMESTAMP_TEXT, doc JSON_TEXT)
                """,
                "CREATE VIRTUAL TABLE copy_scratch_fts USING fts5(label, content='copy_scratch', content_rowid='id')",
                "CREATE TRIGGER copy_scratch_ai AFTER INSERT ON copy_scratch BEGIN INSERT INTO copy_scratch_fts (rowid, label) VALUES (new.id, new.label); END",
                """
                CREATE TRIGGER copy_scratch_ad AFTER DELETE ON copy_scratch BEGIN
                    INSERT INTO copy_scratch_fts (copy_scratch_fts, rowid, label) VALUES ('delete', old.id, old.label); END
                """,
            ]
        case .postgres:
            statements = [
                """
                CREATE TABLE copy_scratch (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, label text, data bytea,
                    ratio double precision, flag boolean, at timestamptz(3), doc jsonb,
                    label_search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(label, ''))) STORED)
                """
            ]
        }
        try await database.write { sql in
            for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
        }
    }

    /// The doubles a copy must keep bit for bit (NaN only where the database can hold it).
    public static let doubles: [Double] = [
        0.1, -2.5, 1e-300, .leastNonzeroMagnitude, 1.7976931348623157e308, -1.7976931348623157e308, 123456789.123456789, .infinity, -.infinity, 0,
    ]

    /// Rows 1…n of `copy_scratch`: all 256 byte values, an empty blob next to NULL, every double above.
    public static func fillScratchTable(_ database: Database, includeNaN: Bool = false) async throws {
        let dialect = database.dialect
        var rows: [(Int64, String?, [UInt8]?, Double?, Bool?, Timestamp?, String?)] = [
            (1, "bytes", Array(0...255), 0.5, true, timestamps[1], #"{"kind": "bytes"}"#),
            (2, "", [], nil, false, timestamps[0], "[]"),
            (3, nil, nil, nil, nil, nil, nil),
        ]
        for (offset, value) in doubles.enumerated() {
            rows.append((Int64(10 + offset), "double \(value)", [UInt8(offset)], value, offset.isMultiple(of: 2), timestamps[offset % 4], "\(offset)"))
        }
        if includeNaN { rows.append((99, "not a number", nil, .nan, nil, nil, nil)) }
        let allRows = rows
        try await database.write { sql in
            for row in allRows {
                try await sql.raw("""
                    INSERT INTO copy_scratch (id, label, data, ratio, flag, at, doc)
                    VALUES (\(bind: row.0), \(bind: row.1), \(bind: row.2.map { Data($0) }), \(bind: row.3), \(bind: row.4), \(bind: row.5),
                            \(row.6.map { json($0, dialect) } ?? "NULL"))
                    """).run()
            }
        }
    }

    /// One project and session, and `count` messages of about `size` bytes each, written fast.
    public static func seedBulk(_ database: Database, messages count: Int, size: Int = 500) async throws {
        let dialect = database.dialect
        let now = Timestamp.now()
        let body = String(repeating: "lorem ipsum ✨ dolor sit amet, ", count: max(1, size / 32))
        try await database.write { sql in
            try await sql.raw("""
                INSERT INTO projects (id, name, slug, description, settings, archived, created_at, updated_at)
                VALUES ('bulk-project', 'Bulk', 'bulk', '', \(json("{}", dialect)), \(bind: false), \(bind: now), \(bind: now))
                """).run()
            try await sql.raw("""
                INSERT INTO sessions (id, project_id, title, status, metadata, last_message_ordinal, last_event_seq, created_at, updated_at)
                VALUES ('bulk-session', 'bulk-project', 'bulk', 'active', \(json("{}", dialect)), \(bind: count), 0, \(bind: now), \(bind: now))
                """).run()
        }
        var next = 0
        while next < count {
            let chunk = min(500, count - next)
            let start = next
            try await database.write { sql in
                var query = SQLQueryString("INSERT INTO messages (id, session_id, ordinal, role, content, metadata, created_at) VALUES ")
                for index in start..<(start + chunk) {
                    if index > start { query += ", " }
                    let id = String(format: "msg-%08d", index)
                    let metadata = #"{"index": \#(index), "tags": ["bulk", "copy"]}"#
                    query += "(\(bind: id), 'bulk-session', \(bind: Int64(index + 1)), 'user', \(bind: "\(index) \(body)"), \(json(metadata, dialect)), \(bind: now))"
                }
                try await sql.raw(query).run()
            }
            next += chunk
        }
    }
}
