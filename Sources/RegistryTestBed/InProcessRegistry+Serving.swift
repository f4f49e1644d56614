import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An answer before it is sent: what the routes make, and rules change.
struct Reply: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body = Data()

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    mutating func setHeader(_ name: String, _ value: String?) {
        headers.removeAll { $0.0.lowercased() == name.lowercased() }
        if let value { headers.append((name, value)) }
    }
}

// How ``InProcessRegistry`` answers a connection: one request after another,
// each recorded, matched against the rules, answered by the routes, and
// sent with whatever the rule does to the body.

extension InProcessRegistry {
    typealias Outbound = NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>

    /// Serves requests on one connection until it closes, a rule ends it,
    /// or the registry stops.
    func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, listener: RegistryListener) async {
        let channel = connection.channel
        let id = track(channel)
        defer { untrack(id) }
        await answerRequests(on: connection) { head, body, outbound in
            try await handle(head, body: Data(body.readableBytesView), listener: listener, outbound: outbound, channel: channel)
        }
    }

    /// Answers one request; returns whether the connection may carry another.
    private func handle(
        _ head: HTTPRequestHead, body: Data, listener: RegistryListener, outbound: Outbound, channel: any Channel
    ) async throws -> Bool {
        var seen = Self.seen(head, listener: listener)
        let (index, behaviour) = state.withLock { state in
            state.requests.append(seen)
            let challenged = challenges(seen, state: &state)
            return (state.requests.count - 1, Self.takeBehaviour(for: seen, challenged: challenged, rules: &state.rules))
        }
        seen.behaviour = behaviour?.description
        defer {
            let record = seen
            state.withLock { $0.requests[index] = record }
        }
        var reply: Reply
        switch behaviour {
        case .stallBeforeHeaders(let duration)?:
            await Self.hold(channel, for: duration)
            return false
        case .close?:
            return false
        default:
            if let own = ownAnswer(behaviour, to: seen) {
                reply = own
            } else {
                let ignoreRange = switch behaviour {
                case .ignoreRange?, .stallBody(_, _, ignoringRange: true)?: true
                default: false
                }
                reply = state.withLock { answer(seen, body: body, ignoringRange: ignoreRange, state: &$0) }
                if let behaviour { Self.change(&reply, by: behaviour) }
            }
        }
        seen.status = reply.status
        // What has been sent shows in ``requests`` at once, an answer still going on included.
        return try await send(reply, for: seen, behaviour: behaviour, outbound: outbound, channel: channel) { event in
            switch event {
            case .head: seen.headSent = .now
            case .body(let bytes): seen.bodyBytes += bytes
            }
            let record = seen
            state.withLock { $0.requests[index] = record }
        }
    }

    /// The record of a request as it arrives. An absolute-form URI (the
    /// registry standing in as an `HTTP_PROXY`) is reduced to path and
    /// query, its host recorded as the `Host`.
    private static func seen(_ head: HTTPRequestHead, listener: RegistryListener) -> SeenRequest {
        var uri = head.uri
        var host = head.headers.first(name: "Host")
        if !uri.hasPrefix("/"), let components = URLComponents(string: uri), let name = components.host {
            host = components.port.map { "\(name):\($0)" } ?? name
            uri = components.percentEncodedPath + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        }
        let path = String(uri.prefix { $0 != "?" })
        return SeenRequest(
            listener: listener, method: head.method.rawValue, uri: uri, path: path, route: RegistryPath(path).route, host: host,
            headers: head.headers.map { ($0.name, $0.value) })
    }

    /// The behaviour of the first rule that matches, has uses left and
    /// applies to the answer the registry gives (a 401 when `challenged`),
    /// one use taken.
    private static func takeBehaviour(
        for request: SeenRequest, challenged: Bool, rules: inout [(rule: RegistryRule, remaining: Int?)]
    ) -> RegistryBehaviour? {
        for index in rules.indices where rules[index].rule.match.matches(request) && rules[index].rule.behaviour.applies(challenged: challenged) {
            if let remaining = rules[index].remaining {
                guard remaining > 0 else { continue }
                rules[index].remaining = remaining - 1
            }
            return rules[index].rule.behaviour
        }
        return nil
    }

    /// The answer of a behaviour that replaces the registry's; nil for the others.
    private func ownAnswer(_ behaviour: RegistryBehaviour?, to request: SeenRequest) -> Reply? {
        switch behaviour {
        case .respond(let status, let headers, let body)?:
            return Reply(status: status, headers: headers, body: Data(body.utf8))
        case .retryLater(let status, let retryAfter)?:
            var reply = Self.errorReply(status, code: status == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE", message: "try again later")
            switch retryAfter {
            case .seconds(let seconds)?: reply.setHeader("Retry-After", String(seconds))
            case .httpDate(let seconds)?: reply.setHeader("Retry-After", imfFixdate(Date().addingTimeInterval(Double(seconds))))
            case nil: break
            }
            return reply
        case .redirect(let status, let target)?:
            let digest = String(request.path.split(separator: "/").last ?? "")
            let location = switch target {
            case .storage: otherBaseURL + "/storage/" + digest
            case .relativeStorage: "/storage/" + digest
            case .location(let location): location
            }
            return Reply(status: status, headers: [("Location", location)])
        default:
            return nil
        }
    }

    /// Changes the registry's own answer as `behaviour` says (its headers;
    /// the body is changed while it is sent).
    private static func change(_ reply: inout Reply, by behaviour: RegistryBehaviour) {
        switch behaviour {
        case .challenges(let rewrite) where reply.status == 401:
            let own = reply.header("WWW-Authenticate") ?? ""
            reply.headers.removeAll { $0.0.lowercased() == "www-authenticate" }
            reply.headers += rewrite(own).map { ("WWW-Authenticate", $0) }
        case .digestHeader(let value):
            reply.setHeader("Docker-Content-Digest", value)
        case .headers(let added):
            for (name, value) in added { reply.setHeader(name, value) }
        case .linkNext(let rewrite):
            if let link = reply.header("Link"), let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">") {
                let target = String(link[link.index(after: open)..<close])
                reply.setHeader("Link", "<\(rewrite(target))>" + link[link.index(after: close)...])
            }
        default:
            break
        }
    }

    // MARK: Sending

    /// What has been sent of an answer.
    enum Sent {
        case head
        case body(Int)
    }

    /// Sends `reply`, its body as `behaviour` has it; returns whether the
    /// connection may carry another request. `sent` is told of the head and
    /// of body bytes as they go.
    private func send(
        _ reply: Reply, for request: SeenRequest, behaviour: RegistryBehaviour?, outbound: Outbound, channel: any Channel,
        sent: (Sent) -> Void
    ) async throws -> Bool {
        var headers = HTTPHeaders(reply.headers)
        var body = reply.body
        var announced = body.count
        if case .contentLength(let length)? = behaviour { announced = length }
        if headers.first(name: "Content-Length") == nil || behaviour.isContentLength { headers.replaceOrAdd(name: "Content-Length", value: String(announced)) }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: reply.status), headers: headers)
        try await outbound.write(.head(head))
        sent(.head)
        guard request.method != "HEAD" else {
            try await outbound.write(.end(nil))
            return true
        }
        if case .corruptByte(let offset)? = behaviour, offset < body.count {
            body[body.startIndex + offset] = ~body[body.startIndex + offset]
        }
        // The bytes go out in pieces; `limit` is where the body stops for good.
        var limit = min(body.count, announced)
        var pause: (at: Int, duration: Duration?)?
        var pace: (bytes: Int, interval: Duration)?
        switch behaviour {
        case .cutBody(let after)?: limit = min(limit, after)
        case .stallBody(let after, let duration, _)?: pause = (after, duration)
        case .trickle(let bytes, let interval)?: pace = (max(1, bytes), interval)
        default: break
        }
        var offset = 0
        while offset < limit {
            var end = min(limit, offset + (pace?.bytes ?? 64 * 1024))
            if let pause, offset <= pause.at, pause.at < end { end = pause.at }
            if end > offset {
                try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body[body.startIndex + offset..<body.startIndex + end]))))
                sent(.body(end - offset))
                offset = end
            }
            if let held = pause, offset == held.at {
                pause = nil
                await Self.hold(channel, for: held.duration)
                guard channel.isActive else { return false }
            }
            if let pace, offset < limit {
                try await Task.sleep(for: pace.interval)
            }
        }
        guard limit == announced else {
            // The bytes written must leave before the connection closes under them: an empty
            // write straight to the channel completes once everything before it is flushed.
            try await channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer()))).get()
            return false
        }
        try await outbound.write(.end(nil))
        return true
    }

    /// Waits while the connection is open, for `duration` at most (nil: until it closes or the registry stops).
    static func hold(_ channel: any Channel, for duration: Duration?) async {
        let end = ContinuousClock.now + (duration ?? .seconds(3600))
        while channel.isActive, ContinuousClock.now < end {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { return }
        }
    }

    static func errorReply(_ status: Int, code: String, message: String) -> Reply {
        struct Errors: Encodable {
            struct Item: Encodable {
                var code: String
                var message: String
            }
            var errors: [Item]
        }
        return Reply(status: status, headers: [("Content-Type", "application/json")], body: encodeJSON(Errors(errors: [.init(code: code, message: message)])))
    }
}

extension Optional where Wrapped == RegistryBehaviour {
    fileprivate var isContentLength: Bool {
        if case .contentLength? = self { true } else { false }
    }
}
