import DovetailStore

/// Closes the managed server's own databases to every role but Dovetail's.
///
/// Why: PostgreSQL grants `CONNECT` and `TEMPORARY` on every new database to `PUBLIC`, so an agent's role
/// (which lives on the same server) could connect to Dovetail's database and to `postgres`, list their tables
/// and create temporary tables there, and by holding a session on `template1` make every `CREATE DATABASE`
/// (each agent deploy without a spare) fail with "source database is being accessed by other users".
/// Here Dovetail administers the server, so on every `start` it revokes both privileges from `PUBLIC` on those
/// three databases and grants them to its own role explicitly (it is the superuser, which needs no grant, but
/// the grant says who the database is for). Agent provisioning only ever grants on the agent's own database.
/// Idempotent; a bring-your-own server is the operator's to configure (see the README).
enum ManagedDatabaseAccess {
    /// Dovetail's database (`POSTGRES_DB`), the maintenance database, and the default template.
    static func databases(_ credentials: PostgresCredentials) -> [String] {
        var names = [credentials.database]
        for name in ["postgres", "template1"] where !names.contains(name) { names.append(name) }
        return names
    }

    static func statements(_ credentials: PostgresCredentials) -> [String] {
        let owner = ManagedPostgres.quoteIdentifier(credentials.user)
        return databases(credentials).flatMap { name -> [String] in
            let database = ManagedPostgres.quoteIdentifier(name)
            return [
                "REVOKE CONNECT, TEMPORARY ON DATABASE \(database) FROM PUBLIC",
                "GRANT CONNECT, TEMPORARY ON DATABASE \(database) TO \(owner)",
            ]
        }
    }

    /// Applies `statements` as Dovetail's role, through the `postgres` database.
    static func restrict(_ credentials: PostgresCredentials, port: Int) async throws(ManagedPostgresError) {
        do {
            try await PostgresServerProbe.execute(statements(credentials), on: credentials.connectionInfo(port: port, database: "postgres"))
        } catch {
            throw ManagedPostgresError.system(
                "PostgreSQL is running, but revoking CONNECT on \(databases(credentials).joined(separator: ", ")) from other roles failed "
                    + "(\(PostgresServerProbe.describeError(error))); run `dovetail postgres start` again."
            )
        }
    }
}
