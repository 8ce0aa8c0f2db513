import PostgresNIO
import SQLKit

/// A read the API runs on nearly every request, which PostgreSQL parses and plans once per connection.
///
/// An ordinary statement is parsed and planned by PostgreSQL on every call; for a one-row lookup that is about
/// half of the server's work (pgbench on the card lookup: ≈ 2× the rate with `-M prepared` against
/// `-M extended`, docs/benchmarks.md "api-load"), and the server shares the machine with the API. The text is
/// written once with `$1…$n` placeholders; PostgreSQL prepares it under the type's name the first time a
/// connection runs it, and SQLite runs it as an ordinary statement with `?1…?n`. Both engines run it below SQLKit
/// and decode its rows with `PostgresResultRow` and `SQLiteResultRow`, which skip the per-cell overhead of
/// PostgresKit's and SQLiteKit's row types.
///
/// Only constant texts belong here: a statement whose text varies per call (a batch of `n` rows) would fill
/// every connection with one prepared statement per variant.
protocol FrequentStatement: Sendable {
    /// The statement, with `$1…$n` for its values and no other `$` (`Dialect.frequentStatementText` spells it per server).
    static var text: String { get }
    /// The values of `$1…$n`, in order.
    var values: [StatementValue] { get }
}

/// What a frequent statement binds: the few types its lookups take, so that both servers get them encoded as
/// the rest of the store encodes them (text and 64-bit integers).
enum StatementValue: Sendable, Equatable {
    case text(String)
    case integer(Int)
}

/// A frequent statement in PostgresNIO's terms, prepared under its type's full name (`DovetailStore.TaskRepository.CardById`):
/// PostgresNIO keys each connection's prepared statements by that name alone, so two statements must never share one.
/// Rows come back as they are; `PostgresEngine` wraps them in `PostgresResultRow`.
struct PreparedFrequentStatement<Statement: FrequentStatement>: PostgresPreparedStatement {
    static var name: String { String(reflecting: Statement.self) }
    static var sql: String { Dialect.postgres.frequentStatementText(Statement.text) }
    typealias Row = PostgresRow

    let statement: Statement

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: statement.values.count)
        for value in statement.values {
            switch value {
            case .text(let text): bindings.append(text)
            case .integer(let integer): bindings.append(integer)
            }
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
