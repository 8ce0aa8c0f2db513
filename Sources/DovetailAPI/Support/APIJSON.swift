import DovetailStore
import Foundation
import Hummingbird

/// JSON in and out. Field names are snake_case through explicit `CodingKeys` rather than a key
/// strategy, because a key strategy would also rewrite the keys inside user JSON (metadata, settings).
enum APIJSON {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: try body(value)))
    }

    /// The JSON bytes of `value`: written directly for the hot response types, through `encoder` otherwise.
    static func body(_ value: some Encodable) throws -> ByteBuffer {
        if let direct = value as? any DirectJSONEncodable {
            var writer = JSONBytesWriter()
            try direct.writeJSON(to: &writer)
            return writer.buffer
        }
        return ByteBuffer(bytes: try encoder.encode(value))
    }

    static func empty() -> Response {
        Response(status: .noContent)
    }

    /// Reads and decodes a JSON body; malformed JSON is a 400, a missing or mistyped field a 422 naming it.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, context: AppRequestContext) async throws -> T {
        guard let value = try await decodeIfPresent(type, from: request, context: context) else {
            throw Problem.badRequest("The request needs a JSON body.")
        }
        return value
    }

    /// For operations whose body is optional: nil when the request has none, the same errors as `decode` otherwise.
    static func decodeIfPresent<T: Decodable>(_ type: T.Type, from request: Request, context: AppRequestContext) async throws -> T? {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: context.maxUploadSize)
        } catch {
            throw Problem(status: .contentTooLarge, slug: "body-too-large", detail: "The request body is larger than 1 MiB.")
        }
        guard buffer.readableBytes > 0 else { return nil }
        let data = Data(buffer: buffer)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            // A number the field cannot hold comes back as "not valid JSON" with no path; name the field.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty, let field = JSONNumberLocator.culprit(T.self, in: data) {
                throw Problem.validation(
                    "\(field) is a number this field cannot hold: integers must fit in 64 bits "
                        + "(-9223372036854775808...9223372036854775807) and whole-number fields take no fraction.",
                    field: field
                )
            }
            throw problem(for: error)
        }
    }

    static func problem(for error: DecodingError) -> Problem {
        func path(_ codingPath: [any CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return .validation("\(field) is required.", field: field)
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .badRequest("The body must be a JSON object.") }
            return .validation("\(field) has the wrong type; expected \(describe(type)).", field: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if field.isEmpty { return .badRequest("The body is not valid JSON: \(context.debugDescription)") }
            return .validation("\(field) has an invalid value.", field: field)
        @unknown default:
            return .badRequest("The body could not be read.")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type, is String?.Type: "a string"
        case is Int.Type, is Int64.Type, is Int?.Type: "an integer"
        case is Bool.Type, is Bool?.Type: "true or false"
        default: "a JSON value of another type"
        }
    }
}

extension Request {
    /// A query parameter parsed as an integer, or a 422 naming it.
    func integerQuery(_ name: String) throws -> Int? {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard let value = Int(text) else { throw Problem.validation("\(name) must be an integer.", field: name) }
        return value
    }

    func stringQuery(_ name: String) -> String? {
        uri.queryParameters[Substring(name)].map(String.init)
    }

    func pageRequest() throws -> PageRequest {
        PageRequest(limit: try integerQuery("limit") ?? PageRequest.defaultLimit, cursor: stringQuery("cursor"))
    }
}
