import NIOCore
import NIOPosix

/// A forward proxy's `CONNECT`, answered by tunnelling to a local port
/// whatever host was asked for: with `HTTP_PROXY` pointing at it, any
/// registry name (`registry.example.net`, `127.0.0.1.example.net`) reaches
/// a test's server, and no name is looked up.
enum ConnectTunnel {
    /// Reads one `CONNECT` head from `client` and tunnels the connection's
    /// bytes to `127.0.0.1:port`; anything but `CONNECT` gets 405. `record`
    /// is told the method, the target asked for and whether it was tunnelled.
    static func serve(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, toPort port: Int, record: (String, String, Bool) -> Void) async {
        try? await client.executeThenClose { inbound, outbound in
            var incoming = inbound.makeAsyncIterator()
            var head = ByteBuffer()
            let separator = Array("\r\n\r\n".utf8)
            var end: Int?
            while end == nil, var chunk = try await incoming.next() {
                head.writeBuffer(&chunk)
                end = head.readableBytesView.firstRange(of: separator)?.upperBound
                if head.readableBytes > 16 * 1024 { return }
            }
            guard let end else { return }
            let words = String(decoding: head.readableBytesView[head.readerIndex..<end], as: UTF8.self).split(separator: " ", maxSplits: 2)
            let method = words.first.map(String.init) ?? ""
            let target = words.count > 1 ? String(words[1]) : ""
            guard method == "CONNECT" else {
                record(method, target, false)
                try await outbound.write(ByteBuffer(string: "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
                return
            }
            record(method, target, true)
            head.moveReaderIndex(to: end)
            let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            // Answered inside `executeThenClose`, so a client gone before the answer
            // still closes the upstream channel (NIO traps on one left open).
            try await upstream.executeThenClose { upstreamInbound, upstreamOutbound in
                try await outbound.write(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n"))
                if head.readableBytes > 0 { try await upstreamOutbound.write(head) }
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask {
                        for try await chunk in upstreamInbound { try await outbound.write(chunk) }
                    }
                    while let chunk = try await incoming.next() { try await upstreamOutbound.write(chunk) }
                    upstreamOutbound.finish()
                }
            }
        }
    }
}
