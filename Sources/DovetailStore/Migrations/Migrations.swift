/// Every migration Dovetail knows, in order. Append new ones; never edit or reorder shipped ones.
///
/// Column types are spelled so that both dialects describe the same logical schema: on SQLite the
/// declared type names carry the logical type (`JSON_TEXT`, `TIMESTAMP_TEXT`, `BOOLEAN_INTEGER`)
/// while keeping the storage affinity right (`…TEXT` is text, `…INT…` is integer).
public enum Migrations {
    public static let all: [Migration] = [
        coreSchema,
        workflowsTokensSearch,
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
    /// Workflows and their versions, runs with leases and steps, checkpoints, service tokens, and
    /// the full-text indexes (FTS5 tables kept by triggers on SQLite, generated `tsvector` columns
    /// with GIN indexes on PostgreSQL; both use English stemming).
    static let workflowsTokensSearch = Migration(
        version: 2,
        name: "workflows_runs_tokens_search",
        sqlite: [
            """
            CREATE TABLE workflows (
                id TEXT NOT NULL PRIMARY KEY,
                project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                handle TEXT NOT NULL,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                archived BOOLEAN_INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
                last_version BIGINT NOT NULL DEFAULT 0,
                created_at TIMESTAMP_TEXT NOT NULL,
                updated_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX workflows_active_handle_key ON workflows (project_id, handle) WHERE archived = 0",
            """
            CREATE TABLE workflow_versions (
                id TEXT NOT NULL PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                version BIGINT NOT NULL,
                definition JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(definition)),
                created_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX workflow_versions_workflow_version_key ON workflow_versions (workflow_id, version)",
            """
            CREATE TABLE runs (
                id TEXT NOT NULL PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                workflow_version BIGINT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
                inputs JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(inputs)),
                outputs JSON_TEXT CHECK (outputs IS NULL OR json_valid(outputs)),
                error TEXT,
                metadata JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
                worker_id TEXT,
                lease_expires_at TIMESTAMP_TEXT,
                attempts BIGINT NOT NULL DEFAULT 0,
                started_at TIMESTAMP_TEXT,
                finished_at TIMESTAMP_TEXT,
                created_at TIMESTAMP_TEXT NOT NULL,
                updated_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE INDEX runs_claim_idx ON runs (status, id)",
            "CREATE INDEX runs_workflow_idx ON runs (workflow_id, id)",
            "CREATE INDEX runs_finished_at_idx ON runs (finished_at)",
            """
            CREATE TABLE run_steps (
                id TEXT NOT NULL PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                step_index BIGINT NOT NULL,
                name TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
                input_tokens BIGINT NOT NULL DEFAULT 0,
                output_tokens BIGINT NOT NULL DEFAULT 0,
                output JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(output)),
                created_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX run_steps_run_step_key ON run_steps (run_id, step_index)",
            """
            CREATE TABLE checkpoints (
                id TEXT NOT NULL PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                run_id TEXT REFERENCES runs (id) ON DELETE SET NULL,
                config_version TEXT NOT NULL,
                metrics JSON_TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),
                is_best BOOLEAN_INTEGER NOT NULL DEFAULT 0 CHECK (is_best IN (0, 1)),
                created_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE INDEX checkpoints_workflow_idx ON checkpoints (workflow_id, id)",
            "CREATE UNIQUE INDEX checkpoints_one_best_key ON checkpoints (workflow_id) WHERE is_best = 1",
            """
            CREATE TABLE service_tokens (
                id TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                prefix TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
                expires_at TIMESTAMP_TEXT,
                revoked_at TIMESTAMP_TEXT,
                last_used_at TIMESTAMP_TEXT,
                use_count BIGINT NOT NULL DEFAULT 0,
                created_at TIMESTAMP_TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX service_tokens_prefix_key ON service_tokens (prefix)",
            "CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = 'messages', tokenize = 'porter unicode61 remove_diacritics 2')",
            "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content); END",
            """
            CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
            END
            """,
            """
            CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
                INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
                INSERT INTO messages_fts (rowid, content) VALUES (new.rowid, new.content);
            END
            """,
            "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')",
            "CREATE VIRTUAL TABLE sessions_fts USING fts5 (title, content = 'sessions', tokenize = 'porter unicode61 remove_diacritics 2')",
            "CREATE TRIGGER sessions_fts_insert AFTER INSERT ON sessions BEGIN INSERT INTO sessions_fts (rowid, title) VALUES (new.rowid, new.title); END",
            """
            CREATE TRIGGER sessions_fts_delete AFTER DELETE ON sessions BEGIN
                INSERT INTO sessions_fts (sessions_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
            END
            """,
            """
            CREATE TRIGGER sessions_fts_update AFTER UPDATE OF title ON sessions BEGIN
                INSERT INTO sessions_fts (sessions_fts, rowid, title) VALUES ('delete', old.rowid, old.title);
                INSERT INTO sessions_fts (rowid, title) VALUES (new.rowid, new.title);
            END
            """,
            "INSERT INTO sessions_fts (sessions_fts) VALUES ('rebuild')",
        ],
        postgres: [
            """
            CREATE TABLE workflows (
                id text NOT NULL PRIMARY KEY,
                project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                handle text NOT NULL,
                name text NOT NULL,
                description text NOT NULL DEFAULT '',
                archived boolean NOT NULL DEFAULT false,
                last_version bigint NOT NULL DEFAULT 0,
                created_at timestamptz(3) NOT NULL,
                updated_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX workflows_active_handle_key ON workflows (project_id, handle) WHERE NOT archived",
            """
            CREATE TABLE workflow_versions (
                id text NOT NULL PRIMARY KEY,
                workflow_id text NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                version bigint NOT NULL,
                definition jsonb NOT NULL DEFAULT '{}'::jsonb,
                created_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX workflow_versions_workflow_version_key ON workflow_versions (workflow_id, version)",
            """
            CREATE TABLE runs (
                id text NOT NULL PRIMARY KEY,
                workflow_id text NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                workflow_version bigint NOT NULL,
                status text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
                inputs jsonb NOT NULL DEFAULT '{}'::jsonb,
                outputs jsonb,
                error text,
                metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
                worker_id text,
                lease_expires_at timestamptz(3),
                attempts bigint NOT NULL DEFAULT 0,
                started_at timestamptz(3),
                finished_at timestamptz(3),
                created_at timestamptz(3) NOT NULL,
                updated_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE INDEX runs_claim_idx ON runs (status, id)",
            "CREATE INDEX runs_workflow_idx ON runs (workflow_id, id)",
            "CREATE INDEX runs_finished_at_idx ON runs (finished_at)",
            """
            CREATE TABLE run_steps (
                id text NOT NULL PRIMARY KEY,
                run_id text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
                step_index bigint NOT NULL,
                name text NOT NULL,
                status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
                input_tokens bigint NOT NULL DEFAULT 0,
                output_tokens bigint NOT NULL DEFAULT 0,
                output jsonb NOT NULL DEFAULT '{}'::jsonb,
                created_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX run_steps_run_step_key ON run_steps (run_id, step_index)",
            """
            CREATE TABLE checkpoints (
                id text NOT NULL PRIMARY KEY,
                workflow_id text NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                run_id text REFERENCES runs (id) ON DELETE SET NULL,
                config_version text NOT NULL,
                metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
                is_best boolean NOT NULL DEFAULT false,
                created_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE INDEX checkpoints_workflow_idx ON checkpoints (workflow_id, id)",
            "CREATE UNIQUE INDEX checkpoints_one_best_key ON checkpoints (workflow_id) WHERE is_best",
            """
            CREATE TABLE service_tokens (
                id text NOT NULL PRIMARY KEY,
                name text NOT NULL,
                prefix text NOT NULL,
                secret_hash text NOT NULL,
                scope text NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
                expires_at timestamptz(3),
                revoked_at timestamptz(3),
                last_used_at timestamptz(3),
                use_count bigint NOT NULL DEFAULT 0,
                created_at timestamptz(3) NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX service_tokens_prefix_key ON service_tokens (prefix)",
            // Stored generated vectors: a search neither re-parses text on recheck nor on a
            // sequential scan, which an expression index alone would.
            "ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english', content)) STORED",
            "CREATE INDEX messages_search_idx ON messages USING gin (search_vector)",
            "ALTER TABLE sessions ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('english', title)) STORED",
            "CREATE INDEX sessions_search_idx ON sessions USING gin (search_vector)",
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
