import NIOCore
import NIOHTTP1
import NIOPosix

extension ConnectionTasks {
    /// A listener of HTTP connections: each request and response part
    /// channel handed to `serve` with the server.
    func httpListener(
        _ serve: @escaping @Sendable (Server, NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async -> Void
    ) -> ServerBootstrap {
        listener(serve) { channel in
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
        }
    }

    /// A listener of raw byte connections (a forward proxy's tunnels).
    func byteListener(_ serve: @escaping @Sendable (Server, NIOAsyncChannel<ByteBuffer, ByteBuffer>) async -> Void) -> ServerBootstrap {
        listener(serve) { _ in }
    }

    /// Each accepted connection is wrapped on its event loop before it is
    /// active (so no byte is missed) and handed at once to a task of its own
    /// (``spawn(_:)``): served, or closed once the server is stopping.
    private func listener<Inbound: Sendable, Outbound: Sendable>(
        _ serve: @escaping @Sendable (Server, NIOAsyncChannel<Inbound, Outbound>) async -> Void,
        configure: @escaping @Sendable (any Channel) throws -> Void
    ) -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel)
                    let connection = try NIOAsyncChannel<Inbound, Outbound>(wrappingChannelSynchronously: channel)
                    self.spawn { server in
                        if let server {
                            await serve(server, connection)
                        } else {
                            try? await connection.executeThenClose { _, _ in }
                        }
                    }
                }
            }
    }
}
