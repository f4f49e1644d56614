import NIOCore
import NIOPosix
import Synchronization

/// A server that answers every request with the same bytes, written as
/// given: what no HTTP server library sends — a control character in a
/// header, a status line that is not one. It counts the requests.
public final class RawAnswerServer: Sendable {
    /// The port on 127.0.0.1.
    public let port: Int
    /// `127.0.0.1:PORT`.
    public var hostPort: String { "127.0.0.1:\(port)" }
    let answer: [UInt8]
    private let count = Mutex(0)
    private let connections: ConnectionTasks<RawAnswerServer>
    private let channel: any Channel

    private init(port: Int, answer: [UInt8], connections: ConnectionTasks<RawAnswerServer>, channel: any Channel) {
        self.port = port
        self.answer = answer
        self.connections = connections
        self.channel = channel
    }

    /// Listens on a free port and answers each request with `answer`, then closes the connection.
    public static func start(answer: String) async throws -> RawAnswerServer {
        let connections = ConnectionTasks<RawAnswerServer>()
        let channel = try await connections.byteListener { server, connection in await server.serve(connection) }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            connections.stop()
            channel.close(promise: nil)
            throw TestBedError.httpFailed(url: "http://127.0.0.1:0", reason: "the raw answer server's listener has no port")
        }
        let server = RawAnswerServer(port: port, answer: Array(answer.utf8), connections: connections, channel: channel)
        connections.attach(server)
        return server
    }

    /// Requests answered so far.
    public var requests: Int { count.withLock { $0 } }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: [UInt8] = []
            for try await chunk in inbound {
                head += chunk.readableBytesView
                if head.count > 64 * 1024 || head.suffix(4) == [13, 10, 13, 10] { break }
            }
            count.withLock { $0 += 1 }
            try await outbound.write(ByteBuffer(bytes: answer))
        }
    }

    /// Stops listening and closes every connection.
    public func stop() {
        channel.close(promise: nil)
        connections.stop()
    }
}
