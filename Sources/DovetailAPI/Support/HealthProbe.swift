import DovetailStore
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Asks a running `serve` one health route over plain HTTP/1.1: what `dovetail health`, the image's
/// `HEALTHCHECK`, runs.
///
/// A few lines of NIO rather than URLSession: on Linux URLSession lives in FoundationNetworking, which links
/// libcurl, and the runtime image would need it for this one request. `serve` speaks plain HTTP only (TLS ends
/// at a proxy or ingress), so `http://` is all this client speaks.
public enum HealthProbe {
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
    }

    /// Why no answer came, in words for the one line `dovetail health` prints.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// GETs `url` (`http://host[:port]/path`) and returns the status and up to 64 KiB of the body, or throws
    /// `Failure` when nothing answered within `timeout` (connecting included).
    public static func get(_ url: String, timeout: Duration) async throws(Failure) -> Answer {
        guard let parsed = URL(string: url), parsed.scheme?.lowercased() == "http", let host = parsed.host, !host.isEmpty else {
            throw Failure(description: "not an http:// URL (dovetail serves plain HTTP; e.g. http://127.0.0.1:8080/health/ready)")
        }
        let port = parsed.port ?? 80
        let path = (parsed.path.isEmpty ? "/" : parsed.path) + (parsed.query.map { "?" + $0 } ?? "")
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        do {
            return try await withTimeout(timeout) {
                try await request(host: host, port: port, path: path, hostHeader: hostHeader, timeout: timeout)
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(description: describe(error, host: hostHeader))
        }
    }

    private static func request(host: String, port: Int, path: String, hostHeader: String, timeout: Duration) async throws -> Answer {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(timeout.milliseconds))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await withTaskCancellationHandler {
            try await channel.executeThenClose { inbound, outbound in
                var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
                head.headers.add(name: "Host", value: hostHeader)
                head.headers.add(name: "User-Agent", value: "dovetail-health/\(DovetailVersion.current)")
                head.headers.add(name: "Accept", value: "application/json")
                head.headers.add(name: "Connection", value: "close")
                try await outbound.write(.head(head))
                try await outbound.write(.end(nil))
                var status: Int?
                var body = ByteBuffer()
                for try await part in inbound {
                    switch part {
                    case .head(let response): status = Int(response.status.code)
                    case .body(var chunk): if body.readableBytes < 65_536 { body.writeBuffer(&chunk) }
                    case .end: return Answer(status: status ?? 0, body: String(buffer: body))
                    }
                }
                guard let status else { throw Failure(description: "the server at \(hostHeader) closed the connection without answering") }
                return Answer(status: status, body: String(buffer: body))
            }
        } onCancel: {
            // The deadline passed: closing the channel ends the read above at once.
            channel.channel.close(promise: nil)
        }
    }

    private static func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw Failure(description: "no answer within \(timeout.secondsText) s")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private static func describe(_ error: any Error, host: String) -> String {
        if let ioError = error as? IOError, ioError.errnoCode == ECONNREFUSED { return "nothing listens on \(host) (connection refused)" }
        if let connectError = error as? NIOConnectionError {
            if connectError.connectionErrors.contains(where: { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }) {
                return "nothing listens on \(host) (connection refused)"
            }
            if connectError.dnsAAAAError != nil || connectError.dnsAError != nil, connectError.connectionErrors.isEmpty {
                return "cannot resolve \(host)"
            }
        }
        if error is ChannelError { return "\(host) did not answer (\(error))" }
        return "\(host): \(error)"
    }
}

extension Duration {
    fileprivate var milliseconds: Int64 {
        let parts = components
        return parts.seconds * 1000 + parts.attoseconds / 1_000_000_000_000_000
    }

    fileprivate var secondsText: String {
        let parts = components
        let seconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        return seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
