/// Every migration Dovetail knows, in order. Append new ones; never edit or reorder shipped ones.
///
/// Column types are spelled so that both dialects describe the same logical schema: on SQLite the
/// declared type names carry the logical type (`JSON_TEXT`, `TIMESTAMP_TEXT`, `BOOLEAN_INTEGER`)
/// while keeping the storage affinity right (`…TEXT` is text, `…INT…` is integer).
public enum Migrations {
    public static let all: [Migration] = [
        coreSchema,
    ]

    public static var latestVersion: Int { all.last?.version ?? 0 }

    static let coreSchema = Migration(
        version: 1,
        name: "core_schema",
        sqlite: [
            """
            CREATE TABLE projects (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                slug TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                settings JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
                archived BOOLEAN_INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
                created_at TIMESTAMP_TEXT NOT NULL,
                updated_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX projects_slug_key ON projects (slug)",
            """
            CREATE TABLE agents (
                id TEXT NOT NULL PRIMARY KEY,
                project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                kind TEXT NOT NULL,
                configuration JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(configuration)),
                status TEXT NOT NULL DEFAULT 'registered'
                    CHECK (status IN ('registered', 'deploying', 'deployed', 'failed', 'undeployed')),
                database_name TEXT,
                database_backend TEXT,
                last_error TEXT,
                created_at TIMESTAMP_TEXT NOT NULL,
                updated_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX agents_project_name_key ON agents (project_id, name)",
            """
            CREATE TABLE tasks (
                id TEXT NOT NULL PRIMARY KEY,
                project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                title TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                board_column TEXT NOT NULL CHECK (board_column IN ('backlog', 'todo', 'in_progress', 'review', 'done')),
                position BIGINT NOT NULL,
                priority BIGINT NOT NULL DEFAULT 0,
                labels JSON_TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(labels)),
                assigned_agent_id TEXT REFERENCES agents (id) ON DELETE SET NULL,
                created_at TIMESTAMP_TEXT NOT NULL,
                updated_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX tasks_board_position_key ON tasks (project_id, board_column, position)",
            "CREATE INDEX tasks_assigned_agent_idx ON tasks (assigned_agent_id)",
            """
            CREATE TABLE sessions (
                id TEXT NOT NULL PRIMARY KEY,
                project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                agent_id TEXT REFERENCES agents (id) ON DELETE SET NULL,
                user_id TEXT,
                title TEXT NOT NULL DEFAULT '',
                status TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'paused', 'completed', 'failed', 'archived')),
                metadata JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
                last_message_ordinal BIGINT NOT NULL DEFAULT 0,
                last_event_seq BIGINT NOT NULL DEFAULT 0,
                last_viewed_at TIMESTAMP_TEXT,
                deleted_at TIMESTAMP_TEXT,
                created_at TIMESTAMP_TEXT NOT NULL,
                updated_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE INDEX sessions_project_idx ON sessions (project_id, id)",
            "CREATE INDEX sessions_agent_idx ON sessions (agent_id)",
            "CREATE INDEX sessions_deleted_at_idx ON sessions (deleted_at)",
            """
            CREATE TABLE messages (
                id TEXT NOT NULL PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                ordinal BIGINT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
                content TEXT NOT NULL,
                metadata JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
                created_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX messages_session_ordinal_key ON messages (session_id, ordinal)",
            """
            CREATE TABLE session_events (
                id TEXT NOT NULL PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                seq BIGINT NOT NULL,
                type TEXT NOT NULL,
                payload JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
                created_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX session_events_session_seq_key ON session_events (session_id, seq)",
            "CREATE INDEX session_events_created_at_idx ON session_events (created_at)",
        ],
        postgres: [
            """
            CREATE TABLE projects (
                id text NOT NULL PRIMARY KEY,
                name text NOT NULL,
                slug text NOT NULL,
                description text NOT NULL DEFAULT '',
                settings jsonb NOT NULL DEFAULT '{}'::jsonb,
                archived boolean NOT NULL DEFAULT false,
                created_at timestamptz(3) NOT NULL,
                updated_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX projects_slug_key ON projects (slug)",
            """
            CREATE TABLE agents (
                id text NOT NULL PRIMARY KEY,
                project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                name text NOT NULL,
                kind text NOT NULL,
                configuration jsonb NOT NULL DEFAULT '{}'::jsonb,
                status text NOT NULL DEFAULT 'registered'
                    CHECK (status IN ('registered', 'deploying', 'deployed', 'failed', 'undeployed')),
                database_name text,
                database_backend text,
                last_error text,
                created_at timestamptz(3) NOT NULL,
                updated_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX agents_project_name_key ON agents (project_id, name)",
            """
            CREATE TABLE tasks (
                id text NOT NULL PRIMARY KEY,
                project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                title text NOT NULL,
                description text NOT NULL DEFAULT '',
                board_column text NOT NULL CHECK (board_column IN ('backlog', 'todo', 'in_progress', 'review', 'done')),
                position bigint NOT NULL,
                priority bigint NOT NULL DEFAULT 0,
                labels jsonb NOT NULL DEFAULT '[]'::jsonb,
                assigned_agent_id text REFERENCES agents (id) ON DELETE SET NULL,
                created_at timestamptz(3) NOT NULL,
                updated_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX tasks_board_position_key ON tasks (project_id, board_column, position)",
            "CREATE INDEX tasks_assigned_agent_idx ON tasks (assigned_agent_id)",
            """
            CREATE TABLE sessions (
                id text NOT NULL PRIMARY KEY,
                project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                agent_id text REFERENCES agents (id) ON DELETE SET NULL,
                user_id text,
                title text NOT NULL DEFAULT '',
                status text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'paused', 'completed', 'failed', 'archived')),
                metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
                last_message_ordinal bigint NOT NULL DEFAULT 0,
                last_event_seq bigint NOT NULL DEFAULT 0,
                last_viewed_at timestamptz(3),
                deleted_at timestamptz(3),
                created_at timestamptz(3) NOT NULL,
                updated_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE INDEX sessions_project_idx ON sessions (project_id, id)",
            "CREATE INDEX sessions_agent_idx ON sessions (agent_id)",
            "CREATE INDEX sessions_deleted_at_idx ON sessions (deleted_at)",
            """
            CREATE TABLE messages (
                id text NOT NULL PRIMARY KEY,
                session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                ordinal bigint NOT NULL,
                role text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
                content text NOT NULL,
                metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
                created_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX messages_session_ordinal_key ON messages (session_id, ordinal)",
            """
            CREATE TABLE session_events (
                id text NOT NULL PRIMARY KEY,
                session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
                seq bigint NOT NULL,
                type text NOT NULL,
                payload jsonb NOT NULL DEFAULT '{}'::jsonb,
                created_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX session_events_session_seq_key ON session_events (session_id, seq)",
            "CREATE INDEX session_events_created_at_idx ON session_events (created_at)",
        ]
    )
}

extension Migrations {
    /// The bookkeeping table, created on demand before the first migration.
    static let bookkeeping = Migration(
        version: 0,
        name: "schema_migrations",
        sqlite: [
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                checksum TEXT NOT NULL,
                applied_at TIMESTAMP_TEXT NOT NULL,
                duration_ms BIGINT NOT NULL
            )
            """
        ],
        postgres: [
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version bigint NOT NULL PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz(3) NOT NULL,
                duration_ms bigint NOT NULL
            )
            """
        ]
    )
}
