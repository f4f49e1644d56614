import NIOCore
import NIOHTTP1

/// The requests of one HTTP/1.1 server connection, answered in turn: each
/// head and its whole body handed to `answer`, until the client closes,
/// `answer` says the connection may carry no more, or the request is not
/// keep-alive.
func answerRequests(
    on connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
    _ answer: (HTTPRequestHead, ByteBuffer, NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool
) async {
    try? await connection.executeThenClose { inbound, outbound in
        var parts = inbound.makeAsyncIterator()
        while let part = try await parts.next() {
            guard case .head(let head) = part else { continue }
            var body = ByteBuffer()
            reading: while let next = try await parts.next() {
                switch next {
                case .body(var chunk): body.writeBuffer(&chunk)
                case .end: break reading
                case .head: return
                }
            }
            guard try await answer(head, body, outbound), head.isKeepAlive else { return }
        }
    }
}
