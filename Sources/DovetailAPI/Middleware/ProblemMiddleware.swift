import DovetailStore
import Hummingbird
import Logging

/// Turns every error into problem+json. Unknown errors are logged at error level (Hummingbird
/// would log them at debug and answer an empty 500) and answered without their text, which may
/// hold driver details.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            // Every database operation of the request is bounded by the pool timeout (`DatabaseWork`).
            return try await DatabaseWork.$interactive.withValue(true) { try await next(request, context) }
        } catch let problem as Problem {
            return problem.response
        } catch let error as StoreError {
            if error.kind == .internalFailure {
                context.logger.error("Request failed", metadata: ["error": "\(error.message)", "path": "\(request.uri.path)"])
            }
            return Problem(error).response
        } catch let error as HTTPError {
            let status = error.status
            if status == .contentTooLarge {
                return Problem(status: status, slug: "body-too-large", detail: "The request body is larger than 1 MiB.").response
            }
            let detail = error.body ?? status.reasonPhrase
            return Problem(status: status, slug: status == .notFound ? "not-found" : "http-error", detail: detail).response
        } catch let error as DecodingError {
            return APIJSON.problem(for: error).response
        } catch {
            context.logger.error("Unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))", "path": "\(request.uri.path)"])
            return Problem(status: .internalServerError, slug: "internal-error", detail: "The server failed to complete the request.").response
        }
    }
}

/// Refuses a declared body over the limit before reading a byte of it.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > AppRequestContext.maximumBodySize {
            throw Problem(status: .contentTooLarge, slug: "body-too-large", detail: "The request body is larger than 1 MiB.")
        }
        return try await next(request, context)
    }
}
