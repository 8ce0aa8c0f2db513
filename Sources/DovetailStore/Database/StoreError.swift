/// The one error type repositories and the API see: driver errors are translated at the storage
/// boundary so that no driver message (which may echo a bind value) ever reaches a client.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The row the caller named does not exist.
        case notFound
        /// A uniqueness or state rule would be broken; retrying the same request will not help.
        case conflict
        /// The input is well-formed JSON but breaks a rule of the data model.
        case invalid
        /// The database cannot be reached or has no free connection; retrying later may help.
        case unavailable
        /// The database rejected or failed the operation for a reason the caller cannot fix.
        case internalFailure
    }

    public let kind: Kind
    /// A user-facing sentence; never contains bind values or passwords.
    public let message: String
    /// The request field the error is about, when there is one (for 422 responses).
    public let field: String?

    public init(_ kind: Kind, _ message: String, field: String? = nil) {
        self.kind = kind
        self.message = message
        self.field = field
    }

    public var description: String { message }

    public static func notFound(_ what: String, id: String) -> StoreError {
        StoreError(.notFound, "No \(what) with id '\(id)' exists.")
    }

    public static func invalid(_ message: String, field: String? = nil) -> StoreError {
        StoreError(.invalid, message, field: field)
    }

    public static func conflict(_ message: String) -> StoreError {
        StoreError(.conflict, message)
    }

    public static func unavailable(_ message: String) -> StoreError {
        StoreError(.unavailable, message)
    }
}
