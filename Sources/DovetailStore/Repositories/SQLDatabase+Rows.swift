import SQLKit

extension SQLDatabase {
    /// Confirms that a referenced row exists, so a dangling reference is reported as a 422 that
    /// names the field instead of as a bare foreign-key failure.
    func requireRow(in table: String, id: String, field: String, what: String) async throws {
        let found = try await raw("SELECT 1 AS found FROM \(ident: table) WHERE id = \(bind: id)").first() != nil
        guard found else { throw StoreError.invalid("No \(what) with id '\(id)' exists.", field: field) }
    }
}
