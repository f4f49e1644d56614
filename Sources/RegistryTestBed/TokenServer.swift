import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A SwiftNIO HTTP/1.1 server on 127.0.0.1 implementing the Docker registry token
/// specification (`GET /token?service=…&scope=…`, optional HTTP Basic) and the OAuth2
/// password grant (`POST /token`), issuing ES256 JWTs distribution 2.8 accepts.
public final class TokenServer: Sendable {
    /// The bound port on 127.0.0.1.
    public let port: Int
    /// The token endpoint, e.g. `http://127.0.0.1:PORT/token` (the registry's `realm`).
    public let url: String
    /// The `service` name tokens are issued for (their `aud`).
    public let service: String
    /// The `iss` claim of issued tokens.
    public let issuer: String
    /// The policy deciding who gets which access.
    public let policy: TokenPolicy
    /// The key and certificate tokens are signed with.
    public let signingKey: TokenSigningKey

    private let core: TokenIssuer
    private let channel: LockedChannel

    private init(port: Int, core: TokenIssuer, channel: any Channel) {
        self.port = port
        self.url = "http://127.0.0.1:\(port)/token"
        self.service = core.service
        self.issuer = core.issuer
        self.policy = core.policy
        self.signingKey = core.signingKey
        self.core = core
        self.channel = LockedChannel(channel)
    }

    /// Starts a token server on 127.0.0.1 on a port the kernel picks.
    ///
    /// - Parameters:
    ///   - policy: who gets which access.
    ///   - signingKey: the key/certificate to sign with (see ``TokenSigningKey/generate(in:commonName:)``).
    ///   - service: the expected `service` parameter and the tokens' `aud`.
    ///   - issuer: the tokens' `iss`; the registry's `auth.token.issuer` must equal it.
    public static func start(
        policy: TokenPolicy,
        signingKey: TokenSigningKey,
        service: String = "hocker-test-registry",
        issuer: String = "hocker-test-issuer"
    ) async throws -> TokenServer {
        let privateKey: P256.Signing.PrivateKey
        do {
            privateKey = try P256.Signing.PrivateKey(pemRepresentation: signingKey.privateKeyPEM)
        } catch {
            throw TestBedError.keyGenerationFailed(reason: "cannot load the P-256 private key: \(error)")
        }
        let core = TokenIssuer(
            policy: policy, signingKey: signingKey, privateKey: privateKey, service: service, issuer: issuer)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.backlog, value: 64)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(TokenHTTPHandler(core: core))
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
        } catch {
            throw TestBedError.tokenServerStartFailed(reason: "\(error)")
        }
        guard let port = channel.localAddress?.port else {
            channel.close(promise: nil)
            throw TestBedError.tokenServerStartFailed(reason: "the bound channel reports no local port")
        }
        return TokenServer(port: port, core: core, channel: channel)
    }

    /// How many HTTP requests the server has answered (thread-safe).
    public var requestCount: Int { core.state.withLockedValue { $0.records.count } }

    /// Every request answered so far, oldest first.
    public var requests: [TokenRequestRecord] { core.state.withLockedValue { $0.records } }

    /// Signs a token directly (without HTTP), e.g. to craft tokens in tests.
    ///
    /// - Parameters:
    ///   - subject: the `sub` claim ("" for anonymous).
    ///   - access: the `access` claim, taken as-is (no policy check).
    ///   - expiresIn: lifetime in seconds; defaults to the policy's.
    public func signToken(subject: String, access: [TokenAccess], expiresIn: Int? = nil) throws -> String {
        try core.makeJWT(subject: subject, access: access, expiresIn: expiresIn ?? policy.expiresIn, now: Date())
    }

    /// Closes the listening socket. Idempotent.
    public func stop() {
        channel.close()
    }

    deinit {
        channel.close()
    }
}

/// The listening channel, closed at most once.
private final class LockedChannel: Sendable {
    private let box: NIOLockedValueBox<(any Channel)?>

    init(_ channel: any Channel) {
        box = NIOLockedValueBox(channel)
    }

    func close() {
        guard let channel = box.withLockedValue({ value -> (any Channel)? in
            defer { value = nil }
            return value
        }) else { return }
        let closed = channel.close()
        // Wait (bounded by the close itself) unless we are on an event loop, where waiting would deadlock.
        if MultiThreadedEventLoopGroup.currentEventLoop == nil {
            try? closed.wait()
        }
    }
}

/// Collects one HTTP request and writes the token server's answer.
private final class TokenHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let core: TokenIssuer
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(core: TokenIssuer) {
        self.core = core
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body.clear()
        case .body(var chunk):
            body.writeBuffer(&chunk)
        case .end:
            guard let requestHead = head else { return }
            head = nil
            let answer = core.handle(
                method: requestHead.method.rawValue, uri: requestHead.uri,
                authorization: requestHead.headers.first(name: "Authorization"),
                body: Data(body.readableBytesView))
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(answer.body.count))
            for (name, value) in answer.headers { headers.add(name: name, value: value) }
            let keepAlive = requestHead.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            let responseHead = HTTPResponseHead(
                version: requestHead.version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
                written.whenComplete { _ in boundContext.value.close(promise: nil) }
            }
        }
    }
}
