import DovetailStore
import Foundation
import Hummingbird

/// An `application/problem+json` error (RFC 9457), the only error shape the API answers with.
public struct Problem: Error, Sendable, Codable, Equatable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    /// The request field at fault, for 400/422 responses.
    public var field: String?
    /// Seconds after which a retry may succeed, for 503 responses (sent as `Retry-After`).
    public var retryAfter: Int?

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, field
    }

    public init(status: HTTPResponse.Status, slug: String, detail: String, field: String? = nil, retryAfter: Int? = nil) {
        self.type = "/problems/\(slug)"
        self.title = status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.field = field
        self.retryAfter = retryAfter
    }

    public static func badRequest(_ detail: String, field: String? = nil) -> Problem {
        Problem(status: .badRequest, slug: "bad-request", detail: detail, field: field)
    }

    public static func validation(_ detail: String, field: String?) -> Problem {
        Problem(status: .unprocessableContent, slug: "validation-failed", detail: detail, field: field)
    }

    public static func notFound(_ detail: String) -> Problem {
        Problem(status: .notFound, slug: "not-found", detail: detail)
    }

    init(_ error: StoreError) {
        switch error.kind {
        case .notFound: self = .notFound(error.message)
        case .conflict: self.init(status: .conflict, slug: "conflict", detail: error.message)
        case .invalid: self = .validation(error.message, field: error.field)
        case .unavailable: self.init(status: .serviceUnavailable, slug: "database-unavailable", detail: error.message, retryAfter: 5)
        case .internalFailure: self.init(status: .internalServerError, slug: "internal-error", detail: "The server failed to complete the request.")
        }
    }

    var response: Response {
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let data = (try? APIJSON.encoder.encode(self)) ?? Data()
        return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
