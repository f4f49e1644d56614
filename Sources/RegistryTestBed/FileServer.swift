import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A plain http server on 127.0.0.1 serving the files under one directory
/// (`GET` and `HEAD`; 404 for anything else there is not): a signature
/// lookaside as a web server holds it. Every request path is recorded.
/// Call ``stop()`` when done.
public final class FileServer: Sendable {
    /// The directory served.
    public let root: String
    /// The port on 127.0.0.1.
    public let port: Int
    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let seen = Mutex<[(path: String, status: Int)]>([])
    private let runner = Mutex<Task<Void, Never>?>(nil)

    private init(root: String, port: Int, server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>) {
        self.root = root
        self.port = port
        self.server = server
    }

    /// Starts serving `root` on a port the kernel picks.
    public static func start(root: String) async throws -> FileServer {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
        guard let port = server.channel.localAddress?.port else {
            try? await server.channel.close()
            throw TestBedError.httpFailed(url: "http://127.0.0.1:0", reason: "the file server's listener has no port")
        }
        let files = FileServer(root: root, port: port, server: server)
        let task = Task<Void, Never>(executorPreference: ServerExecutor.shared) {
            _ = try? await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { connections in
                    for try await connection in inbound {
                        connections.addTask { await answerRequests(on: connection) { head, _, outbound in try await files.answer(head, outbound) } }
                    }
                }
            }
        }
        files.runner.withLock { $0 = task }
        return files
    }

    /// The paths asked for so far, with the status each got.
    public var requests: [(path: String, status: Int)] { seen.withLock { $0 } }

    /// Stops listening and closes the connections, without waiting for their tasks.
    public func stopWithoutWaiting() {
        server.channel.close(promise: nil)
        runner.withLock { $0 }?.cancel()
    }

    /// Stops listening and waits for the connections' tasks.
    public func stop() async {
        server.channel.close(promise: nil)
        let task = runner.withLock { $0 }
        task?.cancel()
        await task?.value
    }

    private func answer(_ head: HTTPRequestHead, _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        let path = String(head.uri.prefix { $0 != "?" })
        let decoded = path.removingPercentEncoding ?? path
        var status = HTTPResponseStatus.notFound
        var body = Data("404 page not found\n".utf8)
        if (head.method == .GET || head.method == .HEAD), !decoded.split(separator: "/").contains(".."),
           let data = FileManager.default.contents(atPath: root + decoded), !decoded.hasSuffix("/")
        {
            status = .ok
            body = data
        }
        seen.withLock { $0.append((decoded, Int(status.code))) }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Content-Type", value: "application/octet-stream")
        try await outbound.write(.head(HTTPResponseHead(version: head.version, status: status, headers: headers)))
        if head.method != .HEAD { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        try await outbound.write(.end(nil))
        return true
    }
}
