import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Rules

/// What kind of registry request a path is.
public enum ProxiedRequestKind: String, Sendable, Hashable {
    /// `/v2/`, the API version check.
    case base
    /// `/v2/NAME/manifests/REFERENCE`.
    case manifest
    /// `/v2/NAME/blobs/DIGEST`.
    case blob
    /// `/v2/NAME/tags/list`.
    case tags
    /// `/token`, forwarded to the registry's ``TokenServer``.
    case token
    /// `/loop/...`, the hops of ``FaultAction/redirectLoop``.
    case loop
    /// `/r/ID` on the alternate listener: a redirected blob.
    case redirected
    /// `CONNECT host:port` at the forward-proxy listener.
    case connect
    /// Anything else.
    case other

    static func classify(_ path: String) -> ProxiedRequestKind {
        if path == "/token" || path == "/token/" { return .token }
        if path == "/v2" || path == "/v2/" { return .base }
        if path.hasPrefix("/loop/") { return .loop }
        if path.hasPrefix("/r/") { return .redirected }
        guard path.hasPrefix("/v2/") else { return .other }
        if path.contains("/blobs/") && !path.contains("/blobs/uploads") { return .blob }
        if path.contains("/manifests/") { return .manifest }
        if path.hasSuffix("/tags/list") { return .tags }
        return .other
    }
}

/// Which of the proxy's two listeners a request arrived at.
public enum ProxyListener: String, Sendable, Hashable {
    /// The one clients are pointed at (`127.0.0.1`).
    case main
    /// The redirect target (addressed as `localhost`, a different origin).
    case alternate
}

/// The requests a ``FaultRule`` applies to.
public struct FaultMatch: Sendable {
    /// Decides from the method, the path kind and the path.
    public var matches: @Sendable (_ method: String, _ kind: ProxiedRequestKind, _ path: String) -> Bool

    public init(_ matches: @escaping @Sendable (_ method: String, _ kind: ProxiedRequestKind, _ path: String) -> Bool) {
        self.matches = matches
    }

    /// `GET` of any blob at the main listener (HEAD requests are left alone).
    public static let blobGETs = FaultMatch { method, kind, _ in method == "GET" && kind == .blob }
    /// `GET` of a redirected blob at the alternate listener.
    public static let redirectedGETs = FaultMatch { method, kind, _ in method == "GET" && kind == .redirected }
    /// `GET` of one blob, by digest (`sha256:...`).
    public static func blobGET(_ digest: String) -> FaultMatch {
        FaultMatch { method, kind, path in method == "GET" && kind == .blob && path.hasSuffix("/blobs/\(digest)") }
    }
    /// `GET` of any manifest.
    public static let manifestGETs = FaultMatch { method, kind, _ in method == "GET" && kind == .manifest }
    /// Every registry API request (`/v2/...`), whatever the method.
    public static let registryRequests = FaultMatch { _, kind, _ in [.base, .manifest, .blob, .tags, .other].contains(kind) }
    /// Token requests.
    public static let tokenRequests = FaultMatch { _, kind, _ in kind == .token }
    /// Everything.
    public static let everything = FaultMatch { _, _, _ in true }
}

/// `Retry-After` as a 429 carries it.
public enum RetryAfter: Sendable, Hashable {
    /// `Retry-After: N`.
    case seconds(Int)
    /// `Retry-After: <HTTP-date N seconds from the moment of the answer>`.
    case httpDate(secondsFromNow: Int)
}

/// What the proxy does to a request a rule matches.
public enum FaultAction: Sendable {
    /// Answers with this status (and headers and body) instead of forwarding.
    case respond(status: Int, headers: [String: String] = [:], body: String = "")
    /// Answers 429 Too Many Requests with a `Retry-After`.
    case tooManyRequests(RetryAfter)
    /// Forwards, then resets the connection (TCP RST) after `bytes` of the body.
    case resetAfter(bytes: Int64)
    /// Forwards with the real `Content-Length`, but ends the connection cleanly
    /// (FIN) after `bytes` of the body: a body cut short.
    case truncateAfter(bytes: Int64)
    /// Forwards the body in chunked encoding (no `Content-Length`) and closes
    /// the connection after `bytes` of it, before the final chunk.
    case chunkedThenCloseAfter(bytes: Int64)
    /// Waits before sending the response head.
    case stallBeforeHeaders(Duration)
    /// Sends `bytes` of the body, then waits, then sends the rest.
    case stallAfter(bytes: Int64, Duration)
    /// Inverts every bit of the body byte at `offset` (relative to this response).
    case flipByte(at: Int64)
    /// Answers 307 to the alternate listener (`localhost`), which serves the same bytes.
    case redirectToAlternateHost
    /// Answers 302 to `/loop/a`, which redirects to `/loop/b`, which redirects to `/loop/a`.
    case redirectLoop
    /// Answers 200 with this body (no `Docker-Content-Digest`), not asking the registry.
    case serve(body: Data, contentType: String, chunked: Bool = false)
    /// Forwards without the `Range` header: the registry answers 200 with the whole body.
    case ignoreRange
    /// Forwards `Range: bytes=N-` as `bytes=N+offset-`: a 206 for another range than asked.
    case shiftRange(by: Int64)
}

/// One fault: which requests, what happens, how many times.
public struct FaultRule: Sendable {
    public var match: FaultMatch
    public var action: FaultAction
    /// How many matching requests get the fault; nil for every one.
    public var times: Int?

    public init(_ match: FaultMatch, _ action: FaultAction, times: Int? = nil) {
        self.match = match
        self.action = action
        self.times = times
    }
}

/// How the proxy treats bearer tokens on registry requests.
public enum TokenFault: Sendable, Hashable {
    /// Tokens pass through; the registry decides.
    case none
    /// A token works for one request: a second request with it gets the
    /// registry's own 401 challenge, as an expired token would.
    case singleUse
    /// After `requests` authorized requests, every bearer token is answered
    /// with the registry's 401 challenge (a token that can never be renewed).
    case rejectAfter(requests: Int)
}

/// What the proxy saw and did for one request.
public struct ProxiedRequest: Sendable {
    public var listener: ProxyListener
    public var method: String
    /// Path and query as received (absolute-form URIs reduced to path and query).
    public var uri: String
    /// The path without the query.
    public var path: String
    public var kind: ProxiedRequestKind
    /// The `Host` header (for absolute-form requests, the URI's host).
    public var host: String?
    /// The `Authorization` header, if any.
    public var authorization: String?
    /// The `Range` header, if any.
    public var range: String?
    /// The status answered (0 when the connection was dropped before a head).
    public var status: Int
    /// Body bytes handed to the client.
    public var bodyBytes: Int64
    /// The fault applied, described, or nil when forwarded untouched.
    public var fault: String?
}

// MARK: - Proxy

/// A SwiftNIO HTTP/1.1 proxy on 127.0.0.1 in front of a real ``TestRegistry``
/// (and its ``TokenServer``), injecting the faults each test sets with
/// ``add(_:)``: dropped or truncated blob bodies, 429/5xx answers, stalls,
/// flipped bytes, redirects to another host name, redirect loops, bad
/// manifests, token endpoint failures and expiring tokens.
///
/// Bodies are streamed, never buffered whole. It counts the body bytes served
/// per path, so tests can check a download resumed rather than restarted.
/// The token server's realm in `WWW-Authenticate` is rewritten to the proxy's
/// own `/token`, so token requests go through the proxy too.
///
/// It also accepts absolute-form request URIs (`GET http://host/v2/...`), so
/// it can stand in as the `HTTP_PROXY` for a registry with a made-up host name.
public final class FaultProxy: Sendable {
    /// The main listener's port on 127.0.0.1.
    public let port: Int
    /// The alternate listener's port, addressed as `localhost`.
    public let alternatePort: Int
    /// A forward proxy (`CONNECT`) that tunnels to the main listener, whatever
    /// host is asked for: set `HTTP_PROXY=http://127.0.0.1:PORT` and any
    /// registry name reaches the registry behind this proxy.
    public let forwardProxyPort: Int
    /// `http://127.0.0.1:FORWARDPROXYPORT`, what `HTTP_PROXY` takes.
    public var forwardProxyURL: String { "http://127.0.0.1:\(forwardProxyPort)" }
    /// `127.0.0.1:PORT`.
    public var hostPort: String { "127.0.0.1:\(port)" }
    /// `http://127.0.0.1:PORT/v2/`, what `--registry` takes.
    public var v2URL: String { "http://127.0.0.1:\(port)/v2/" }
    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    let upstreamPort: Int
    let tokenPort: Int?
    let tokenRealm: String?
    let state = NIOLockedValueBox(ProxyState())
    private let connections: ConnectionTasks
    private let channels: [any Channel]

    struct ProxyState: Sendable {
        var rules: [(rule: FaultRule, remaining: Int?)] = []
        var tokenFault: TokenFault = .none
        var usedTokens: Set<String> = []
        var authorizedRequests = 0
        var realmOverride: String?
        var records: [ProxiedRequest] = []
        var bytesByPath: [String: Int64] = [:]
        var redirects: [String: (uri: String, authorization: String?)] = [:]
    }

    private init(port: Int, alternatePort: Int, forwardProxyPort: Int, upstream: TestRegistry, connections: ConnectionTasks, channels: [any Channel]) {
        self.port = port
        self.alternatePort = alternatePort
        self.forwardProxyPort = forwardProxyPort
        self.upstreamPort = upstream.port
        self.tokenPort = upstream.tokenServer?.port
        self.tokenRealm = upstream.tokenServer?.url
        self.connections = connections
        self.channels = channels
    }

    /// Starts a proxy in front of `registry` (and its token server, if any).
    public static func start(upstream registry: TestRegistry) async throws -> FaultProxy {
        let connections = ConnectionTasks()
        // Each accepted connection is wrapped on its event loop before it is
        // active (so no byte is missed) and handed at once to a task that
        // always runs `executeThenClose`, even when the proxy is stopping.
        func bind(_ listener: ProxyListener) async throws -> any Channel {
            try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        let connection = try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                        connections.spawn { proxy in
                            if let proxy {
                                await proxy.serve(connection, listener: listener)
                            } else {
                                try? await connection.executeThenClose { _, _ in }
                            }
                        }
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
        }
        func bindForwardProxy() async throws -> any Channel {
            try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let connection = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                        connections.spawn { proxy in
                            if let proxy {
                                await proxy.tunnel(connection)
                            } else {
                                try? await connection.executeThenClose { _, _ in }
                            }
                        }
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
        }
        let main: any Channel
        let alternate: any Channel
        let forward: any Channel
        do {
            main = try await bind(.main)
            alternate = try await bind(.alternate)
            forward = try await bindForwardProxy()
        } catch {
            connections.stop()
            throw TestBedError.httpFailed(url: "http://127.0.0.1:0", reason: "the fault proxy cannot listen: \(error)")
        }
        guard let port = main.localAddress?.port, let alternatePort = alternate.localAddress?.port, let forwardPort = forward.localAddress?.port else {
            connections.stop()
            for channel in [main, alternate, forward] { channel.close(promise: nil) }
            throw TestBedError.httpFailed(url: "http://127.0.0.1:0", reason: "the fault proxy's listener has no port")
        }
        let proxy = FaultProxy(
            port: port, alternatePort: alternatePort, forwardProxyPort: forwardPort, upstream: registry, connections: connections,
            channels: [main, alternate, forward])
        connections.attach(proxy)
        return proxy
    }

    /// Adds a rule. Rules are tried in the order added; the first that
    /// matches a request (and has uses left) applies.
    public func add(_ rule: FaultRule) {
        state.withLockedValue { $0.rules.append((rule, rule.times)) }
    }

    /// Adds a rule; see ``add(_:)``.
    public func add(_ match: FaultMatch, _ action: FaultAction, times: Int? = nil) {
        add(FaultRule(match, action, times: times))
    }

    /// Sets how bearer tokens are treated.
    public func setTokenFault(_ fault: TokenFault) {
        state.withLockedValue {
            $0.tokenFault = fault
            $0.usedTokens.removeAll()
            $0.authorizedRequests = 0
        }
    }

    /// Replaces the realm in the registry's Bearer challenges with `realm`
    /// (e.g. a plain-http realm on a host that is not loopback). Nil restores
    /// the proxy's own `/token`.
    public func overrideRealm(_ realm: String?) {
        state.withLockedValue { $0.realmOverride = realm }
    }

    /// Every request so far, in the order they arrived; one still being
    /// answered has status 0 and the bytes sent so far are not counted yet.
    public var requests: [ProxiedRequest] { state.withLockedValue { $0.records } }

    /// Body bytes served for `path` (without query) so far, over every listener.
    public func bytesServed(path: String) -> Int64 {
        state.withLockedValue { $0.bytesByPath[path] ?? 0 }
    }

    /// Body bytes served for blob `digest` so far (direct and redirected).
    public func bytesServed(blob digest: String) -> Int64 {
        state.withLockedValue { state in
            state.bytesByPath.filter { $0.key.hasSuffix("/blobs/\(digest)") }.values.reduce(0, +)
        }
    }

    /// Every body byte served so far.
    public var totalBytesServed: Int64 { state.withLockedValue { $0.bytesByPath.values.reduce(0, +) } }

    /// Stops both listeners and every connection. Idempotent.
    public func stop() {
        for channel in channels { channel.close(promise: nil) }
        connections.stop()
    }

    deinit {
        for channel in channels { channel.close(promise: nil) }
    }

    // MARK: Serving

    typealias Outbound = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

    /// Serves requests on one client connection until it closes or a fault ends it.
    fileprivate func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, listener: ProxyListener) async {
        let channel = connection.channel
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
                let keepOpen = try await handle(head, body: body, listener: listener, outbound: outbound, channel: channel)
                guard keepOpen, head.isKeepAlive else { return }
            }
        }
    }

    /// A request being answered, and what has been sent for it: its record is
    /// listed in ``requests`` from its arrival and updated when it is done.
    struct Exchange {
        var record: ProxiedRequest
        var index: Int
    }

    /// Answers one request; returns whether the connection may carry another.
    private func handle(
        _ head: HTTPRequestHead, body: ByteBuffer, listener: ProxyListener, outbound: Outbound, channel: any Channel
    ) async throws -> Bool {
        var uri = head.uri
        var host = head.headers.first(name: "Host")
        if uri.hasPrefix("http://"), let components = URLComponents(string: uri) {
            // Absolute form: the proxy is someone's HTTP_PROXY.
            host = components.host.map { h in components.port.map { "\(h):\($0)" } ?? h }
            uri = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        }
        let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        let method = head.method.rawValue
        let kind = listener == .alternate ? ProxiedRequestKind.redirected : ProxiedRequestKind.classify(path)
        let arrived = ProxiedRequest(
            listener: listener, method: method, uri: uri, path: path, kind: kind, host: host,
            authorization: head.headers.first(name: "Authorization"), range: head.headers.first(name: "Range"),
            status: 0, bodyBytes: 0, fault: nil)
        let index = state.withLockedValue { state in
            state.records.append(arrived)
            return state.records.count - 1
        }
        var exchange = Exchange(record: arrived, index: index)
        defer {
            let record = exchange.record
            state.withLockedValue { $0.records[index] = record }
        }

        // The redirect target: serve the blob the id stands for, with the
        // authorization of the original request (as a signed URL would).
        var forwardURI = uri
        var forwardAuthorization = head.headers.first(name: "Authorization")
        if listener == .alternate {
            let id = String(path.dropFirst("/r/".count))
            guard let target = state.withLockedValue({ $0.redirects[id] }) else {
                try await respond(status: 404, headers: [:], body: "unknown redirect id", outbound: outbound, exchange: &exchange)
                return true
            }
            forwardURI = target.uri
            forwardAuthorization = target.authorization
            exchange.record.path = String(target.uri.split(separator: "?").first ?? "")
        }
        if kind == .loop {
            let next = path == "/loop/a" ? "/loop/b" : "/loop/a"
            try await respond(status: 302, headers: ["Location": next], body: "", outbound: outbound, exchange: &exchange)
            return true
        }

        // Expiring tokens: answer with the registry's own challenge.
        var stripAuthorization = false
        if [.base, .manifest, .blob, .tags, .other].contains(kind), let authorization = forwardAuthorization, authorization.hasPrefix("Bearer ") {
            stripAuthorization = state.withLockedValue { state in
                switch state.tokenFault {
                case .none:
                    return false
                case .singleUse:
                    return !state.usedTokens.insert(authorization).inserted
                case .rejectAfter(let requests):
                    state.authorizedRequests += 1
                    return state.authorizedRequests > requests
                }
            }
            if stripAuthorization { exchange.record.fault = "token refused" }
        }

        let action: FaultAction? = stripAuthorization ? nil : state.withLockedValue { state in
            for index in state.rules.indices where state.rules[index].rule.match.matches(method, kind, exchange.record.path) {
                if let remaining = state.rules[index].remaining {
                    guard remaining > 0 else { continue }
                    state.rules[index].remaining = remaining - 1
                }
                return state.rules[index].rule.action
            }
            return nil
        }
        if let action { exchange.record.fault = "\(action)" }

        var body = body
        switch action {
        case .respond(let status, let headers, let text)?:
            try await respond(status: status, headers: headers, body: text, outbound: outbound, exchange: &exchange)
            return true
        case .tooManyRequests(let retryAfter)?:
            let value: String
            switch retryAfter {
            case .seconds(let seconds): value = String(seconds)
            case .httpDate(let seconds): value = Self.httpDate(Date().addingTimeInterval(TimeInterval(seconds)))
            }
            try await respond(
                status: 429, headers: ["Retry-After": value, "Content-Type": "application/json"],
                body: #"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down (injected)"}]}"#, outbound: outbound, exchange: &exchange)
            return true
        case .redirectToAlternateHost?:
            let id = UUID().uuidString.lowercased()
            state.withLockedValue { $0.redirects[id] = (uri, forwardAuthorization) }
            try await respond(
                status: 307, headers: ["Location": "http://localhost:\(alternatePort)/r/\(id)"], body: "", outbound: outbound, exchange: &exchange)
            return true
        case .redirectLoop?:
            try await respond(status: 302, headers: ["Location": "/loop/a"], body: "", outbound: outbound, exchange: &exchange)
            return true
        case .serve(let data, let contentType, let chunked)?:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            if chunked {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                headers.add(name: "Content-Length", value: String(data.count))
            }
            exchange.record.status = 200
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            if method != "HEAD" {
                var offset = 0
                while offset < data.count {
                    let piece = data[data.startIndex + offset..<data.startIndex + min(data.count, offset + 64 * 1024)]
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: piece))))
                    offset += piece.count
                    count(Int64(piece.count), path: exchange.record.path, exchange: &exchange)
                }
            }
            try await outbound.write(.end(nil))
            return true
        case .stallBeforeHeaders(let duration)?:
            try await Task.sleep(for: duration)
        default:
            break
        }

        // Forward to the registry or the token server.
        let upstreamPort: Int
        if kind == .token {
            guard let tokenPort else {
                try await respond(status: 404, headers: [:], body: "no token server", outbound: outbound, exchange: &exchange)
                return true
            }
            upstreamPort = tokenPort
        } else {
            upstreamPort = self.upstreamPort
        }
        var headers = head.headers
        switch action {
        case .ignoreRange?:
            headers.remove(name: "Range")
        case .shiftRange(let offset)?:
            if let range = headers.first(name: "Range"), range.hasPrefix("bytes="), range.hasSuffix("-"),
               let start = Int64(range.dropFirst("bytes=".count).dropLast()) {
                headers.replaceOrAdd(name: "Range", value: "bytes=\(start + offset)-")
            }
        default:
            break
        }
        headers.remove(name: "Connection")
        headers.remove(name: "Proxy-Connection")
        headers.remove(name: "Proxy-Authorization")
        headers.remove(name: "Authorization")
        if let forwardAuthorization, !stripAuthorization { headers.add(name: "Authorization", value: forwardAuthorization) }
        headers.replaceOrAdd(name: "Host", value: "127.0.0.1:\(upstreamPort)")
        headers.add(name: "Connection", value: "close")
        let upstreamHead = HTTPRequestHead(version: .http1_1, method: head.method, uri: forwardURI, headers: headers)

        let upstream: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .connect(host: "127.0.0.1", port: upstreamPort) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            try await respond(status: 502, headers: [:], body: "upstream unreachable: \(error)", outbound: outbound, exchange: &exchange)
            return true
        }
        let realm = state.withLockedValue { $0.realmOverride } ?? "http://127.0.0.1:\(port)/token"
        return try await upstream.executeThenClose { upstreamInbound, upstreamOutbound in
            try await upstreamOutbound.write(.head(upstreamHead))
            if body.readableBytes > 0 { try await upstreamOutbound.write(.body(.byteBuffer(body))) }
            try await upstreamOutbound.write(.end(nil))
            body.clear()

            var sent: Int64 = 0
            var chunkedInstead = false
            for try await part in upstreamInbound {
                switch part {
                case .head(var responseHead):
                    responseHead.headers.remove(name: "Connection")
                    responseHead.headers.remove(name: "Keep-Alive")
                    if let tokenRealm {
                        let challenges = responseHead.headers["WWW-Authenticate"]
                        responseHead.headers.remove(name: "WWW-Authenticate")
                        for challenge in challenges {
                            responseHead.headers.add(name: "WWW-Authenticate", value: challenge.replacingOccurrences(of: tokenRealm, with: realm))
                        }
                    }
                    if case .chunkedThenCloseAfter? = action, responseHead.status == .ok {
                        responseHead.headers.remove(name: "Content-Length")
                        responseHead.headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
                        chunkedInstead = true
                    }
                    responseHead.version = .http1_1
                    exchange.record.status = Int(responseHead.status.code)
                    try await outbound.write(.head(responseHead))
                case .body(var chunk):
                    let length = Int64(chunk.readableBytes)
                    switch action {
                    case .flipByte(let offset)? where offset >= sent && offset < sent + length:
                        let index = chunk.readerIndex + Int(offset - sent)
                        if let byte = chunk.getInteger(at: index, as: UInt8.self) { chunk.setInteger(~byte, at: index) }
                    case .resetAfter(let limit)? where sent + length >= limit,
                        .truncateAfter(let limit)? where sent + length >= limit,
                        .chunkedThenCloseAfter(let limit)? where chunkedInstead && sent + length >= limit:
                        let keep = Int(limit - sent)
                        if keep > 0, let prefix = chunk.readSlice(length: keep) {
                            try await outbound.write(.body(.byteBuffer(prefix)))
                            count(Int64(keep), path: exchange.record.path, exchange: &exchange)
                        }
                        if case .resetAfter? = action {
                            // SO_LINGER 0: close() sends RST, as a dropped connection would.
                            try? await (channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
                        } else {
                            // Give the prefix a moment to leave before the FIN.
                            try await Task.sleep(for: .milliseconds(50))
                        }
                        return false
                    case .stallAfter(let limit, let duration)? where sent <= limit && sent + length > limit:
                        let keep = Int(limit - sent)
                        if keep > 0, let prefix = chunk.readSlice(length: keep) {
                            try await outbound.write(.body(.byteBuffer(prefix)))
                            count(Int64(keep), path: exchange.record.path, exchange: &exchange)
                            sent += Int64(keep)
                        }
                        try await Task.sleep(for: duration)
                    default:
                        break
                    }
                    let remaining = Int64(chunk.readableBytes)
                    if remaining > 0 {
                        try await outbound.write(.body(.byteBuffer(chunk)))
                        count(remaining, path: exchange.record.path, exchange: &exchange)
                    }
                    sent += remaining
                case .end:
                    try await outbound.write(.end(nil))
                    return true
                }
            }
            // The registry closed without finishing the response.
            return false
        }
    }

    /// Answers one `CONNECT` at the forward-proxy listener and tunnels the
    /// connection's bytes to the main listener, which serves what comes through.
    fileprivate func tunnel(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
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
            let headText = String(decoding: head.readableBytesView[head.readerIndex..<end], as: UTF8.self)
            let words = headText.split(separator: " ", maxSplits: 2)
            var record = ProxiedRequest(
                listener: .main, method: words.first.map(String.init) ?? "", uri: words.count > 1 ? String(words[1]) : "", path: "",
                kind: .connect, host: words.count > 1 ? String(words[1]) : nil, authorization: nil, range: nil, status: 0, bodyBytes: 0, fault: nil)
            guard record.method == "CONNECT" else {
                record.status = 405
                state.withLockedValue { $0.records.append(record) }
                try await outbound.write(ByteBuffer(string: "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
                return
            }
            record.status = 200
            state.withLockedValue { $0.records.append(record) }
            head.moveReaderIndex(to: end)
            let upstream = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            try await outbound.write(ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n"))
            try await upstream.executeThenClose { upstreamInbound, upstreamOutbound in
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

    private func count(_ bytes: Int64, path: String, exchange: inout Exchange) {
        exchange.record.bodyBytes += bytes
        state.withLockedValue { $0.bytesByPath[path, default: 0] += bytes }
    }

    private func respond(status: Int, headers: [String: String], body: String, outbound: Outbound, exchange: inout Exchange) async throws {
        var responseHeaders = HTTPHeaders()
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { responseHeaders.add(name: name, value: value) }
        responseHeaders.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
        exchange.record.status = status
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders)))
        if !body.isEmpty, exchange.record.method != "HEAD" { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
        try await outbound.write(.end(nil))
    }

    /// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    public static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

/// The tasks serving the proxy's connections: each connection gets one the
/// moment it is accepted; `stop()` cancels them all, and a connection that
/// arrives after it is closed at once.
private final class ConnectionTasks: Sendable {
    private struct State {
        var proxy: FaultProxy?
        var stopped = false
        var next = 0
        var tasks: [Int: Task<Void, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    func attach(_ proxy: FaultProxy) {
        state.withLockedValue { $0.proxy = proxy }
    }

    /// Runs `serve` for a new connection, with the proxy, or with nil (close it) once stopped.
    func spawn(_ serve: @escaping @Sendable (FaultProxy?) async -> Void) {
        state.withLockedValue { state in
            let proxy = state.stopped ? nil : state.proxy
            let id = state.next
            state.next += 1
            state.tasks[id] = Task {
                await serve(proxy)
                self.state.withLockedValue { _ = $0.tasks.removeValue(forKey: id) }
            }
        }
    }

    func stop() {
        let tasks = state.withLockedValue { state in
            state.stopped = true
            state.proxy = nil
            defer { state.tasks.removeAll() }
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
    }
}
