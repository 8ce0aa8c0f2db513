import DovetailStore
import DovetailTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOPosix

/// Small helpers so that endpoint tests read as requests and expectations.
extension TestClientProtocol {
    func send(_ uri: String, _ method: HTTPRequest.Method, json: String? = nil, headers: HTTPFields = [:]) async throws -> TestResponse {
        var allHeaders = headers
        if json != nil { allHeaders[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: allHeaders, body: json.map { ByteBuffer(string: $0) })
    }

    func send<T: Encodable>(_ uri: String, _ method: HTTPRequest.Method, body: T) async throws -> TestResponse {
        let data = try JSONEncoder().encode(body)
        return try await execute(uri: uri, method: method, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: data))
    }
}

struct ProblemBody: Decodable {
    var type: String
    var title: String
    var status: Int
    var detail: String
    var field: String?
}

struct ListBody<Item: Decodable>: Decodable {
    var items: [Item]
    var next_cursor: String?
}

/// Fields every resource has, for generic assertions.
struct Identified: Decodable {
    var id: String
}

/// A JSON string literal for `text`, escaped the way a client would.
func jsonString(_ text: String) -> String {
    String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
}

/// A plain TCP connection to a live test server, for what the test clients cannot do: read a stream that never
/// ends, send half a request, put bytes on the wire that a client library would refuse.
enum RawSocket {
    static func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
    }
}
