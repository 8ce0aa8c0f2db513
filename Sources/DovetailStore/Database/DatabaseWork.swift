/// What kind of work the current task does with the database, so the engine can bound it accordingly.
public enum DatabaseWork {
    /// Set by the API for the duration of each request: a request's database operation is then abandoned
    /// (503, its connection closed) once it has run for `POSTGRES_POOL_TIMEOUT` on a granted connection,
    /// so every request is answered within that bound even when a connection stops answering. Outside a
    /// request (migrations, copies, the CLI) work may run up to `POSTGRES_STATEMENT_TIMEOUT` and a margin.
    @TaskLocal public static var interactive = false
}
