import Foundation

/// Input rules shared by every repository, so the CLI and the API refuse the same things with
/// the same messages.
enum Validation {
    /// Text stored in a column: PostgreSQL cannot store NUL, so neither backend accepts it.
    static func text(_ value: String, field: String, maxLength: Int = 100_000, allowEmpty: Bool = true) throws -> String {
        if !allowEmpty && value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw StoreError.invalid("\(field) must not be empty.", field: field)
        }
        if value.unicodeScalars.contains("\u{0000}") {
            throw StoreError.invalid("\(field) must not contain NUL characters.", field: field)
        }
        if value.utf8.count > maxLength {
            throw StoreError.invalid("\(field) is longer than \(maxLength) bytes.", field: field)
        }
        return value
    }

    /// Longest id accepted: ids are 36-character UUIDv7 strings; the slack admits older or
    /// hand-made ids while keeping a hostile megabyte out of statements and error messages.
    static let maximumIdLength = 200

    /// An id from a path, a query filter or a body field, checked before it reaches a statement.
    /// PostgreSQL refuses NUL in text parameters (SQLSTATE 22021) and SQLite would store it, so
    /// both refuse it here with the same 422 naming `field`. Any other text is left to the lookup,
    /// which answers "not found" as it would for any unknown id.
    @discardableResult
    static func id(_ value: String, field: String) throws -> String {
        if value.unicodeScalars.contains("\u{0000}") {
            throw StoreError.invalid("\(field) must not contain NUL characters.", field: field)
        }
        if value.utf8.count > maximumIdLength {
            throw StoreError.invalid("\(field) is longer than \(maximumIdLength) bytes; ids are 36-character UUIDs.", field: field)
        }
        return value
    }

    /// `id` for optional filters and references: nil stays nil.
    @discardableResult
    static func id(_ value: String?, field: String) throws -> String? {
        try value.map { try id($0, field: field) }
    }

    static func name(_ value: String, field: String = "name") throws -> String {
        try text(value, field: field, maxLength: 200, allowEmpty: false)
    }

    static func slug(_ value: String, field: String = "slug") throws -> String {
        let pattern = /^[a-z0-9]+(-[a-z0-9]+)*$/
        guard value.count <= 63, value.wholeMatch(of: pattern) != nil else {
            throw StoreError.invalid("\(field) must be 1-63 lower-case letters, digits and single hyphens (e.g. 'my-project').", field: field)
        }
        return value
    }

    /// A slug made from a name: lower case, runs of anything else collapsed into one hyphen.
    static func slugify(_ name: String) -> String {
        var result = ""
        var pendingHyphen = false
        for scalar in name.lowercased().unicodeScalars {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) {
                if pendingHyphen && !result.isEmpty { result += "-" }
                result.unicodeScalars.append(scalar)
                pendingHyphen = false
            } else {
                pendingHyphen = true
            }
        }
        let trimmed = String(result.prefix(63))
        return trimmed.hasSuffix("-") ? String(trimmed.dropLast()) : (trimmed.isEmpty ? "project" : trimmed)
    }

    /// JSON that must be an object (settings, configuration, metadata, payload).
    static func object(_ value: JSONValue?, field: String) throws -> JSONValue {
        guard let value else { return .emptyObject }
        guard value.isObject else { throw StoreError.invalid("\(field) must be a JSON object.", field: field) }
        try noNul(value, field: field)
        return value
    }

    static func array(_ value: JSONValue?, field: String) throws -> JSONValue {
        guard let value else { return .emptyArray }
        guard value.isArray else { throw StoreError.invalid("\(field) must be a JSON array.", field: field) }
        try noNul(value, field: field)
        return value
    }

    /// PostgreSQL's jsonb refuses `\u0000` in strings; refuse it up front on both backends.
    private static func noNul(_ value: JSONValue, field: String) throws {
        switch value {
        case .string(let text):
            if text.unicodeScalars.contains("\u{0000}") { throw StoreError.invalid("\(field) must not contain NUL characters.", field: field) }
        case .array(let items):
            for item in items { try noNul(item, field: field) }
        case .object(let members):
            for (key, item) in members {
                if key.unicodeScalars.contains("\u{0000}") { throw StoreError.invalid("\(field) must not contain NUL characters.", field: field) }
                try noNul(item, field: field)
            }
        case .number(let number):
            if !number.isFinite { throw StoreError.invalid("\(field) must not contain NaN or infinite numbers.", field: field) }
        default:
            break
        }
    }
}
