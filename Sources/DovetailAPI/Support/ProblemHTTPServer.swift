import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

extension HTTPServerBuilder {
    /// HTTP/1.1 as `.http1(configuration:)`, except that a request the HTTP parser refuses — a request
    /// line or headers over the decoder's 80 KiB, a malformed request line — is answered with
    /// problem+json like every other error. Hummingbird answers those itself with an empty 400
    /// (`HTTPChannelHandler.handleHTTP`) before any middleware runs, so the router cannot.
    public static func problemHTTP1(configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            ProblemHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// `HTTP1Channel` with `ParserErrorProblemHandler` placed right after the HTTP/1 request decoder,
/// where NIO's own `HTTPServerProtocolErrorHandler` would sit.
struct ProblemHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // Still on the channel's event loop in the tick that built the pipeline: no byte was read yet.
            let operations = channel.pipeline.syncOperations
            let decoder = try operations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try operations.addHandler(ParserErrorProblemHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Answers an `HTTPParserError` with an `application/problem+json` response and closes the connection.
///
/// It answers only between requests (every request read has been answered), which is where an
/// over-long request line or header block fails; an error in the middle of a request is passed on to
/// Hummingbird, which owns the response in progress. After answering, it closes the output and
/// drops whatever the client still sends, so the client reads the answer instead of a reset, and it
/// closes the connection for good after `lingerTime`.
final class ParserErrorProblemHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let lingerTime: TimeAmount = .seconds(2)

    private var requestHeads = 0
    private var requestEnds = 0
    private var responseEnds = 0
    private var answered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        switch unwrapInboundIn(data) {
        case .head: requestHeads += 1
        case .end: requestEnds += 1
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { responseEnds += 1 }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if answered { return }  // bytes the client kept sending after the answer
        guard let parserError = error as? HTTPParserError, requestHeads == requestEnds, requestEnds == responseEnds else {
            context.fireErrorCaught(error)
            return
        }
        answered = true
        let problem = Self.problem(for: parserError)
        let body = ByteBuffer(bytes: (try? APIJSON.encoder.encode(problem)) ?? Data())
        let headers = HTTPHeaders([
            ("Content-Type", "application/problem+json"),
            ("Content-Length", String(body.readableBytes)),
            ("Connection", "close"),
        ])
        let head = HTTPResponseHead(version: .http1_1, status: .init(statusCode: problem.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
        }
        context.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
    }

    static func problem(for error: HTTPParserError) -> Problem {
        switch error {
        case .headerOverflow:
            Problem(
                status: .requestHeaderFieldsTooLarge, slug: "request-head-too-large",
                detail: "The request line and headers are larger than 80 KiB; send long inputs in a JSON body instead of the URL."
            )
        default:
            Problem.badRequest("The request is not valid HTTP/1.1 (\(error)).")
        }
    }
}
