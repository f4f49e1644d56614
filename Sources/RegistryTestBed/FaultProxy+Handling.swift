import Foundation
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

// How ``FaultProxy`` answers what arrives at its listeners: the main and
// alternate listeners' HTTP requests, one phase after another (see
// `handle`), and the forward-proxy listener's `CONNECT` tunnels.

extension FaultProxy {
    // MARK: Serving

    typealias Outbound = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

    /// Serves requests on one client connection until it closes or a fault ends it.
    func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, listener: ProxyListener) async {
        let channel = connection.channel
        await answerRequests(on: connection) { head, body, outbound in
            try await handle(head, body: body, listener: listener, outbound: outbound, channel: channel)
        }
    }

    /// A request being answered, and what has been sent for it: its record is
    /// listed in ``requests`` from its arrival and updated when it is done.
    struct Exchange {
        var record: ProxiedRequest
        var index: Int
        /// How the storage a redirected blob stands for behaves.
        var storage: StorageBehaviour?
    }

    /// Where a request is forwarded: the URI and the `Authorization` it goes
    /// upstream with, which differ from the request's own for a redirected blob.
    struct Route {
        var uri: String
        var authorization: String?
    }

    /// Answers one request; returns whether the connection may carry another.
    ///
    /// The phases, in order, each of which may answer the request itself:
    /// record it, resolve where it goes, decide whether its token expired,
    /// take the matching rule, answer locally for the actions that never
    /// reach the registry, then build the upstream head and relay the
    /// response with the body faults. The record is written back to
    /// ``requests`` however the request ends.
    private func handle(
        _ head: HTTPRequestHead, body: ByteBuffer, listener: ProxyListener, outbound: Outbound, channel: any Channel
    ) async throws -> Bool {
        var exchange = recordArrival(head, listener: listener)
        defer {
            let record = exchange.record
            let index = exchange.index
            state.withLockedValue { $0.records[index] = record }
        }

        guard let route = try await resolveRoute(head, outbound: outbound, exchange: &exchange) else { return true }
        let stripAuthorization = tokenExpired(authorization: route.authorization, exchange: &exchange)
        let action = takeAction(exchange: &exchange, tokenRefused: stripAuthorization)
        if try await answerLocally(action, route: route, outbound: outbound, exchange: &exchange) { return true }

        // Forward to the registry or the token server.
        let upstreamPort: Int
        if exchange.record.kind == .token {
            guard let tokenPort else {
                try await respond(status: 404, headers: [:], body: "no token server", outbound: outbound, exchange: &exchange)
                return true
            }
            upstreamPort = tokenPort
        } else {
            upstreamPort = self.upstreamPort
        }
        let upstreamHead = upstreamRequestHead(
            head, route: route, action: action, stripAuthorization: stripAuthorization, upstreamPort: upstreamPort)

        let upstream: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            upstream = try await connectUpstream(port: upstreamPort)
        } catch {
            try await respond(status: 502, headers: [:], body: "upstream unreachable: \(error)", outbound: outbound, exchange: &exchange)
            return true
        }
        return try await relay(
            upstreamHead, body: body, through: upstream, action: action, outbound: outbound, channel: channel, exchange: &exchange)
    }

    // MARK: The phases of a request

    /// Parses the arriving request and lists its record in ``requests`` at
    /// once (status 0), so a test sees a request still being answered.
    ///
    /// An absolute-form URI (`GET http://host/v2/...`, the proxy standing in
    /// as someone's `HTTP_PROXY`) is reduced to path and query, and its host
    /// is recorded as the `Host`. Every request at the alternate listener is
    /// a ``ProxiedRequestKind/redirected`` blob, whatever its path says.
    private func recordArrival(_ head: HTTPRequestHead, listener: ProxyListener) -> Exchange {
        var uri = head.uri
        var host = head.headers.first(name: "Host")
        if uri.hasPrefix("http://"), let components = URLComponents(string: uri) {
            // Absolute form: the proxy is someone's HTTP_PROXY.
            host = components.host.map { h in components.port.map { "\(h):\($0)" } ?? h }
            uri = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        }
        let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        let method = head.method.rawValue
        // At the alternate listener everything is a redirected blob, but a token realm moved there.
        let classified = ProxiedRequestKind.classify(path)
        let kind = listener == .alternate && classified != .token ? ProxiedRequestKind.redirected : classified
        let arrived = ProxiedRequest(
            listener: listener, method: method, uri: uri, path: path, kind: kind, host: host,
            authorization: head.headers.first(name: "Authorization"), range: head.headers.first(name: "Range"),
            status: 0, bodyBytes: 0, fault: nil)
        let index = state.withLockedValue { state in
            state.records.append(arrived)
            return state.records.count - 1
        }
        return Exchange(record: arrived, index: index)
    }

    /// Resolves where the request goes; nil when it goes nowhere and has
    /// been answered here.
    ///
    /// `/r/ID` at the alternate listener stands for the blob request a
    /// ``FaultAction/redirectToAlternateHost`` redirected: it is forwarded as
    /// that request, with that request's authorization (as a signed URL
    /// would carry it), and recorded under the blob's path so rules and byte
    /// counts see the blob; an unknown id is a 404. The `/loop/` hops of
    /// ``FaultAction/redirectLoop`` redirect to each other for ever. Anything
    /// else goes upstream as it came.
    private func resolveRoute(_ head: HTTPRequestHead, outbound: Outbound, exchange: inout Exchange) async throws -> Route? {
        let path = exchange.record.path
        // The redirect target: serve the blob the id stands for, with the
        // authorization of the original request (as a signed URL would).
        var route = Route(uri: exchange.record.uri, authorization: head.headers.first(name: "Authorization"))
        if exchange.record.kind == .redirected {
            let id = String(path.dropFirst("/r/".count))
            // A single-use URL is forgotten at its first use, and known as expired after.
            let (target, expired) = state.withLockedValue { state in
                let target = state.redirects[id]
                if let target, target.storage.singleUse {
                    state.redirects[id] = nil
                    state.expiredRedirects.insert(id)
                }
                return (target, state.expiredRedirects.contains(id) && target == nil)
            }
            guard let target else {
                if expired {
                    try await respond(
                        status: 403, headers: ["Content-Type": "application/xml"],
                        body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                        outbound: outbound, exchange: &exchange)
                } else {
                    try await respond(status: 404, headers: [:], body: "unknown redirect id", outbound: outbound, exchange: &exchange)
                }
                return nil
            }
            exchange.storage = target.storage
            exchange.record.path = String(target.uri.split(separator: "?").first ?? "")
            if target.storage.refusesAuthorization, head.headers.first(name: "Authorization") != nil {
                try await respond(
                    status: 400, headers: ["Content-Type": "application/xml"],
                    body: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; "
                        + "only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified"
                        + "</Message><ArgumentName>Authorization</ArgumentName></Error>",
                    outbound: outbound, exchange: &exchange)
                return nil
            }
            if target.storage.refusesHEAD, head.method == .HEAD {
                try await respond(status: 403, headers: [:], body: "", outbound: outbound, exchange: &exchange)
                return nil
            }
            if target.storage.refusesOpenRange, let range = head.headers.first(name: "Range"), range.hasSuffix("-") {
                try await respond(
                    status: 416, headers: ["Content-Type": "application/xml"],
                    body: "<Error><Code>InvalidRange</Code><Message>The requested range is not satisfiable</Message></Error>",
                    outbound: outbound, exchange: &exchange)
                return nil
            }
            route.uri = target.uri
            route.authorization = target.authorization
        }
        if exchange.record.kind == .loop {
            let next = path == "/loop/a" ? "/loop/b" : "/loop/a"
            try await respond(status: 302, headers: ["Location": next], body: "", outbound: outbound, exchange: &exchange)
            return nil
        }
        return route
    }

    /// Decides, under the ``TokenFault`` set, whether the bearer token a
    /// registry request carries has expired; if so the request is forwarded
    /// without its `Authorization` (and no rule applies), so the client gets
    /// the registry's own 401 challenge, as it would for a token that really
    /// expired. Only bearer tokens on registry API requests count: token
    /// requests, loop hops and redirected blobs are left alone, and so are
    /// basic credentials.
    private func tokenExpired(authorization: String?, exchange: inout Exchange) -> Bool {
        // Expiring tokens: answer with the registry's own challenge.
        var stripAuthorization = false
        if [.base, .manifest, .blob, .tags, .other].contains(exchange.record.kind), let authorization, authorization.hasPrefix("Bearer ") {
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
        return stripAuthorization
    }

    /// Takes the action of the first rule that matches the request and has
    /// uses left, using one of them up, and records the action as the
    /// request's fault. Rules match on the recorded path, so a redirected
    /// blob is matched by its blob path.
    ///
    /// A request whose token the ``TokenFault`` refused goes to the registry
    /// for its 401; only the rules that rewrite what comes back apply to it.
    private func takeAction(exchange: inout Exchange, tokenRefused: Bool) -> FaultAction? {
        let method = exchange.record.method
        let kind = exchange.record.kind
        let path = exchange.record.path
        let action: FaultAction? = state.withLockedValue { state in
            for index in state.rules.indices where state.rules[index].rule.match.matches(method, kind, path) {
                if tokenRefused, !state.rules[index].rule.action.rewritesAnswer { continue }
                if let remaining = state.rules[index].remaining {
                    guard remaining > 0 else { continue }
                    state.rules[index].remaining = remaining - 1
                }
                return state.rules[index].rule.action
            }
            return nil
        }
        if let action { exchange.record.fault = [exchange.record.fault, "\(action)"].compactMap { $0 }.joined(separator: "; ") }
        return action
    }

    /// Answers the request here for the actions that never reach the
    /// registry; returns whether it did. These are ``FaultAction/respond(status:headers:body:)``,
    /// the 429 with its `Retry-After`, the 307 to the alternate listener
    /// (remembering what its id stands for), the first hop of the redirect
    /// loop, and ``FaultAction/serve(body:contentType:chunked:)``, whose body
    /// goes out in 64 KiB pieces counted like forwarded ones.
    /// ``FaultAction/stallBeforeHeaders(_:)`` waits here, then lets the
    /// request go on upstream.
    private func answerLocally(_ action: FaultAction?, route: Route, outbound: Outbound, exchange: inout Exchange) async throws -> Bool {
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
            return try await redirect(to: StorageBehaviour(), route: route, outbound: outbound, exchange: &exchange)
        case .redirectToStorage(let storage)?:
            return try await redirect(to: storage, route: route, outbound: outbound, exchange: &exchange)
        case .respondWithoutAuthorization(let status, let headers, let text)? where route.authorization == nil:
            try await respond(status: status, headers: headers, body: text, outbound: outbound, exchange: &exchange)
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
            if exchange.record.method != "HEAD" {
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
            return false
        case .pageTagList(let size)?:
            try await servePage(size: size, route: route, outbound: outbound, exchange: &exchange)
            return true
        default:
            return false
        }
    }

    /// Answers with a redirect to `/r/ID` on storage behaving as `storage`
    /// says, remembering what the id stands for (the request and its
    /// authorization, which the storage uses upstream as a signed URL would
    /// carry its own); returns whether it did.
    ///
    /// As a registry checks the request's credentials before it redirects,
    /// a request the registry would answer 401 is not redirected but
    /// forwarded, so that the client gets the registry's challenge.
    private func redirect(to storage: StorageBehaviour, route: Route, outbound: Outbound, exchange: inout Exchange) async throws -> Bool {
        let probe = try await TestHTTP.request(
            "HEAD", "http://127.0.0.1:\(upstreamPort)\(exchange.record.path)", headers: route.authorization.map { [("Authorization", $0)] } ?? [])
        if probe.status == 401 { return false }
        let id = UUID().uuidString.lowercased()
        let uri = exchange.record.uri
        state.withLockedValue { $0.redirects[id] = (uri, route.authorization, storage) }
        let location = storage.relative ? "/r/\(id)" : "http://localhost:\(alternatePort)/r/\(id)"
        try await respond(status: storage.status, headers: ["Location": location], body: "", outbound: outbound, exchange: &exchange)
        return true
    }

    /// One page of the registry's tag list (``FaultAction/pageTagList(size:)``):
    /// the whole list asked upstream with the request's authorization, sorted,
    /// cut after `last` to `n` (else `size`) tags, with a `Link` to the next
    /// page while more remain. An upstream error is passed on as it came.
    private func servePage(size: Int, route: Route, outbound: Outbound, exchange: inout Exchange) async throws {
        let path = exchange.record.path
        let whole = try await TestHTTP.request(
            "GET", "http://127.0.0.1:\(upstreamPort)\(path)", headers: route.authorization.map { [("Authorization", $0)] } ?? [])
        struct TagList: Codable {
            var name: String
            var tags: [String]?
        }
        guard whole.status == 200, let list = try? JSONDecoder().decode(TagList.self, from: whole.body) else {
            let passed = ["Content-Type", "WWW-Authenticate"].reduce(into: [String: String]()) { headers, name in headers[name] = whole.header(name) }
            try await respond(status: whole.status, headers: passed, body: whole.bodyText, outbound: outbound, exchange: &exchange)
            return
        }
        let query = URLComponents(string: exchange.record.uri)?.queryItems ?? []
        let count = query.first { $0.name == "n" }?.value.flatMap(Int.init) ?? size
        let last = query.first { $0.name == "last" }?.value
        let sorted = (list.tags ?? []).sorted()
        let rest = last.map { last in sorted.filter { $0 > last } } ?? sorted
        let page = Array(rest.prefix(max(count, 1)))
        var headers = ["Content-Type": "application/json; charset=utf-8"]
        if rest.count > page.count, let end = page.last {
            headers["Link"] = "<\(path)?n=\(count)&last=\(end)>; rel=\"next\""
        }
        let body = String(decoding: try JSONEncoder().encode(TagList(name: list.name, tags: page)), as: UTF8.self)
        try await respond(status: 200, headers: headers, body: body, outbound: outbound, exchange: &exchange)
    }

    /// Builds the request head sent upstream from the client's: `Range`
    /// dropped for ``FaultAction/ignoreRange``, or an open `bytes=N-` moved
    /// on for ``FaultAction/shiftRange(by:)``; the connection and proxy
    /// headers dropped; the route's `Authorization`, unless the token
    /// expired; `Host` naming the upstream, whatever the client asked for;
    /// and `Connection: close`, as each request gets its own upstream connection.
    private func upstreamRequestHead(
        _ head: HTTPRequestHead, route: Route, action: FaultAction?, stripAuthorization: Bool, upstreamPort: Int
    ) -> HTTPRequestHead {
        var headers = head.headers
        switch action {
        case .ignoreRange?:
            headers.remove(name: "Range")
        case .shiftRange(let offset)?:
            if let range = headers.first(name: "Range"), range.hasPrefix("bytes="), let dash = range.firstIndex(of: "-"),
               let start = Int64(range[range.index(range.startIndex, offsetBy: "bytes=".count)..<dash]) {
                headers.replaceOrAdd(name: "Range", value: "bytes=\(start + offset)-" + range[range.index(after: dash)...])
            }
        default:
            break
        }
        headers.remove(name: "Connection")
        headers.remove(name: "Proxy-Connection")
        headers.remove(name: "Proxy-Authorization")
        headers.remove(name: "Authorization")
        if let forwardAuthorization = route.authorization, !stripAuthorization { headers.add(name: "Authorization", value: forwardAuthorization) }
        headers.replaceOrAdd(name: "Host", value: "127.0.0.1:\(upstreamPort)")
        headers.add(name: "Connection", value: "close")
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: route.uri, headers: headers)
    }

    /// Connects to the registry or the token server on 127.0.0.1, as an
    /// HTTP/1.1 client.
    private func connectUpstream(port upstreamPort: Int) async throws -> NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart> {
        try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: upstreamPort) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Sends the request upstream and relays the response, applying the body
    /// faults as the bytes go by; returns whether the client connection may
    /// carry another request (false once a fault has cut the body short).
    ///
    /// The head is passed through ``relayedHead(_:realm:action:)``. In the body,
    /// ``FaultAction/flipByte(at:)`` inverts one byte; ``FaultAction/resetAfter(bytes:)``,
    /// ``FaultAction/truncateAfter(bytes:)`` and ``FaultAction/chunkedThenCloseAfter(bytes:)``
    /// send the first bytes and end the connection, with a TCP RST for the
    /// first (SO_LINGER 0) and a FIN for the others; ``FaultAction/stallAfter(bytes:_:)``
    /// sends the first bytes, waits, then sends the rest. Every byte handed
    /// to the client is counted.
    private func relay(
        _ upstreamHead: HTTPRequestHead, body: ByteBuffer, through upstream: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>,
        action: FaultAction?, outbound: Outbound, channel: any Channel, exchange: inout Exchange
    ) async throws -> Bool {
        var body = body
        let realm = state.withLockedValue { $0.realmOverride } ?? "http://127.0.0.1:\(port)/token"
        let storage = exchange.storage
        return try await upstream.executeThenClose { upstreamInbound, upstreamOutbound in
            try await upstreamOutbound.write(.head(upstreamHead))
            if body.readableBytes > 0 { try await upstreamOutbound.write(.body(.byteBuffer(body))) }
            try await upstreamOutbound.write(.end(nil))
            body.clear()

            var sent: Int64 = 0
            var chunkedInstead = false
            for try await part in upstreamInbound {
                switch part {
                case .head(let upstreamResponseHead):
                    let (responseHead, chunked) = relayedHead(upstreamResponseHead, realm: realm, action: action, storage: storage)
                    if chunked { chunkedInstead = true }
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

    /// The upstream response head as the client gets it, and whether its
    /// body is to be sent chunked instead: the connection headers dropped
    /// (the proxy keeps its own connection), the token server's realm in
    /// Bearer challenges replaced with `realm` so token requests come through
    /// the proxy too, and for ``FaultAction/chunkedThenCloseAfter(bytes:)``
    /// a 200's `Content-Length` swapped for chunked encoding.
    private func relayedHead(
        _ upstreamHead: HTTPResponseHead, realm: String, action: FaultAction?, storage: StorageBehaviour?
    ) -> (HTTPResponseHead, chunked: Bool) {
        var responseHead = upstreamHead
        var chunkedInstead = false
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
        switch action {
        case .rewriteChallenge(let quirk)? where responseHead.status == .unauthorized:
            let rewritten = Self.rewrite(responseHead.headers["WWW-Authenticate"], quirk, alternateRealm: "http://localhost:\(alternatePort)/token")
            responseHead.headers.remove(name: "WWW-Authenticate")
            for challenge in rewritten { responseHead.headers.add(name: "WWW-Authenticate", value: challenge) }
        case .digestHeader(let quirk)? where responseHead.status == .ok:
            if let digest = responseHead.headers.first(name: "Docker-Content-Digest") {
                responseHead.headers.remove(name: "Docker-Content-Digest")
                switch quirk {
                case .removed: break
                case .bareHex: responseHead.headers.add(name: "Docker-Content-Digest", value: String(digest.dropFirst("sha256:".count)))
                case .wrong: responseHead.headers.add(name: "Docker-Content-Digest", value: "sha256:" + String(repeating: "e", count: 64))
                }
            }
        case .addHeaders(let headers)?:
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) { responseHead.headers.replaceOrAdd(name: name, value: value) }
        default:
            break
        }
        if let storage {
            if storage.noAcceptRanges { responseHead.headers.remove(name: "Accept-Ranges") }
            if storage.withoutContentLength, responseHead.status == .ok || responseHead.status == .partialContent {
                responseHead.headers.remove(name: "Content-Length")
                responseHead.headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked")
            }
        }
        responseHead.version = .http1_1
        return (responseHead, chunkedInstead)
    }

    /// The challenges of a 401 as `quirk` has them; `alternateRealm` is
    /// the token endpoint on the alternate listener. Challenges are in
    /// distribution's form, `Bearer realm="…",service="…",scope="…"`.
    static func rewrite(_ challenges: [String], _ quirk: ChallengeQuirk, alternateRealm: String) -> [String] {
        func parameters(_ challenge: String) -> (scheme: String, [(String, String)]) {
            let scheme = String(challenge.prefix { $0 != " " })
            var pairs: [(String, String)] = []
            var rest = Substring(challenge.dropFirst(scheme.count))
            while let equals = rest.firstIndex(of: "=") {
                let name = rest[..<equals].trimmingCharacters(in: CharacterSet(charactersIn: " ,"))
                var after = rest[rest.index(after: equals)...]
                guard after.first == "\"" else { break }
                after = after.dropFirst()
                guard let close = after.firstIndex(of: "\"") else { break }
                pairs.append((name, String(after[..<close])))
                rest = after[after.index(after: close)...]
            }
            return (scheme, pairs)
        }
        func join(_ scheme: String, _ pairs: [(String, String)], quoted: Bool = true) -> String {
            scheme + " " + pairs.map { quoted ? "\($0.0)=\"\($0.1)\"" : "\($0.0)=\($0.1)" }.joined(separator: ",")
        }
        func edit(_ change: (inout [(String, String)]) -> Void) -> [String] {
            challenges.map { challenge in
                var (scheme, pairs) = parameters(challenge)
                change(&pairs)
                return join(scheme, pairs)
            }
        }
        func set(_ name: String, _ value: String, in pairs: inout [(String, String)]) {
            if let index = pairs.firstIndex(where: { $0.0 == name }) { pairs[index].1 = value } else { pairs.append((name, value)) }
        }
        switch quirk {
        case .removed:
            return []
        case .afterUnsupportedInOneHeader:
            // RFC 7235's own example of a challenge with odd parameters, before the real one.
            return challenges.map { #"Newauth realm="apps", type=1, title="Login to \"apps\"", "# + $0 }
        case .afterUnsupportedHeader:
            return ["Negotiate", #"Newauth realm="apps""#] + challenges
        case .unquoted:
            return challenges.map { challenge in
                let (scheme, pairs) = parameters(challenge)
                return join(scheme, pairs, quoted: false)
            }
        case .withoutService:
            return edit { $0.removeAll { $0.0 == "service" } }
        case .realmQuery(let query):
            return edit { pairs in
                if let index = pairs.firstIndex(where: { $0.0 == "realm" }) { pairs[index].1 += "?" + query }
            }
        case .realmOnAlternateHost:
            return edit { set("realm", alternateRealm, in: &$0) }
        case .scope(let scope):
            return edit { set("scope", scope, in: &$0) }
        case .basic:
            return [#"Basic realm="harbor""#]
        }
    }

    // MARK: Forward proxy

    /// Answers one `CONNECT` at the forward-proxy listener and tunnels the
    /// connection's bytes to the main listener, which serves what comes through.
    func tunnel(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        await ConnectTunnel.serve(client, toPort: port) { method, target, tunnelled in
            let record = ProxiedRequest(
                listener: .main, method: method, uri: target, path: "", kind: .connect, host: target, authorization: nil, range: nil,
                status: tunnelled ? 200 : 405, bodyBytes: 0, fault: nil)
            state.withLockedValue { $0.records.append(record) }
        }
    }

    // MARK: Answers and counts

    /// Counts `bytes` of body handed to the client, on the request's record
    /// and on `path`'s total (what ``bytesServed(path:)`` reports).
    private func count(_ bytes: Int64, path: String, exchange: inout Exchange) {
        exchange.record.bodyBytes += bytes
        state.withLockedValue { $0.bytesByPath[path, default: 0] += bytes }
    }

    /// Answers with `status`, `headers` (in name order) and `body`, with its
    /// `Content-Length`; a HEAD gets no body.
    private func respond(status: Int, headers: [String: String], body: String, outbound: Outbound, exchange: inout Exchange) async throws {
        var responseHeaders = HTTPHeaders()
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { responseHeaders.add(name: name, value: value) }
        responseHeaders.replaceOrAdd(name: "Content-Length", value: String(body.utf8.count))
        exchange.record.status = status
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: responseHeaders)))
        if !body.isEmpty, exchange.record.method != "HEAD" { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
        try await outbound.write(.end(nil))
    }
}
