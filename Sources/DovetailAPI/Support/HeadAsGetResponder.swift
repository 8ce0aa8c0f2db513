import Hummingbird

/// Answers HEAD as GET without the body (RFC 9110 §9.3.2), for every GET route: load balancers and uptime
/// checkers send HEAD, and Hummingbird's router matches it only where a HEAD route is registered, so every
/// such request was a 404. The request reaches the router as GET, so it needs what the GET needs (scope
/// included), and the answer keeps the GET's status and headers.
struct HeadAsGetResponder<Base: HTTPResponder>: HTTPResponder where Base.Context == AppRequestContext {
    let base: Base

    func respond(to request: Request, context: AppRequestContext) async throws -> Response {
        guard request.method == .head else { return try await base.respond(to: request, context: context) }
        var head = request.head
        head.method = .get
        var response = try await base.respond(to: Request(head: head, body: request.body), context: context)
        // The GET's length is announced, as HEAD promises; nothing of the body is written.
        response.body = ResponseBody(contentLength: response.body.contentLength) { writer in try await writer.finish(nil) }
        return response
    }
}

extension Router where Context == AppRequestContext {
    /// This router's responder, with HEAD answered as GET.
    public func headAnsweringResponder() -> some HTTPResponder<AppRequestContext> {
        HeadAsGetResponder(base: buildResponder())
    }
}
