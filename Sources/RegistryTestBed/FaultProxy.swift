import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

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
    /// `HEAD` of any manifest.
    public static let manifestHEADs = FaultMatch { method, kind, _ in method == "HEAD" && kind == .manifest }
    /// `GET` of any tag list.
    public static let tagLists = FaultMatch { method, kind, _ in method == "GET" && kind == .tags }
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

/// How storage behind a blob redirect (S3, GCS, a CDN) treats what it is
/// sent, as ``FaultAction/redirectToStorage(_:)`` imitates it.
public struct StorageBehaviour: Sendable, Hashable {
    /// The redirect's status: 307 (S3 behind ECR, Harbor) or 302 (Docker Hub's CDN, GHCR).
    public var status = 307
    /// `Location: /r/ID` on the registry's own origin, rather than an absolute URL on another host.
    public var relative = false
    /// A request with any `Authorization` gets S3's 400 "Only one auth mechanism allowed".
    public var refusesAuthorization = false
    /// A HEAD gets 403 (a URL signed for GET only).
    public var refusesHEAD = false
    /// A signed URL works once: a second request with it gets 403 (expired).
    public var singleUse = false
    /// `Accept-Ranges` is not sent.
    public var noAcceptRanges = false
    /// An open-ended `Range: bytes=N-` gets 416; `bytes=N-M` is served.
    public var refusesOpenRange = false
    /// The body is sent chunked, without `Content-Length`.
    public var withoutContentLength = false

    public init(
        status: Int = 307, relative: Bool = false, refusesAuthorization: Bool = false, refusesHEAD: Bool = false, singleUse: Bool = false,
        noAcceptRanges: Bool = false, refusesOpenRange: Bool = false, withoutContentLength: Bool = false
    ) {
        self.status = status
        self.relative = relative
        self.refusesAuthorization = refusesAuthorization
        self.refusesHEAD = refusesHEAD
        self.singleUse = singleUse
        self.noAcceptRanges = noAcceptRanges
        self.refusesOpenRange = refusesOpenRange
        self.withoutContentLength = withoutContentLength
    }

    /// S3 with a presigned URL, as ECR and Harbor redirect to it: any
    /// `Authorization` refused, GET only, the URL used once.
    public static let s3 = StorageBehaviour(refusesAuthorization: true, refusesHEAD: true, singleUse: true)
}

/// How a 401's `WWW-Authenticate` is rewritten, after the realm already
/// points at the proxy: the deviations registries are documented to have.
public enum ChallengeQuirk: Sendable, Hashable {
    /// No `WWW-Authenticate` at all (gcr.io on repository paths; the `/v2/` ping keeps it).
    case removed
    /// An unsupported challenge first, in the same header (`Negotiate, Bearer …`).
    case afterUnsupportedInOneHeader
    /// An unsupported challenge first, in a header of its own.
    case afterUnsupportedHeader
    /// Every parameter value unquoted (`service=gcr.io`).
    case unquoted
    /// No `service` (nvcr.io).
    case withoutService
    /// The realm with a query string of its own appended (`?tenant=…`).
    case realmQuery(String)
    /// The realm on the alternate listener (`localhost`), another origin (GitLab's realm is gitlab.com/jwt/auth).
    case realmOnAlternateHost
    /// The `scope` replaced (a challenge asking for another repository first).
    case scope(String)
    /// The challenge replaced by `Basic realm="…"` (Harbor after a token expired).
    case basic
}

/// How `Docker-Content-Digest` is sent on a manifest answer.
public enum DigestHeaderQuirk: Sendable, Hashable {
    /// Not sent.
    case removed
    /// Hex digits without `sha256:`.
    case bareHex
    /// The digest of other bytes.
    case wrong
}

/// What the proxy does to a request a rule matches.
public enum FaultAction: Sendable {
    /// Forwards untouched (with `times`, the first requests pass before a later rule applies).
    case passThrough
    /// Forwards, and rewrites the challenge of a 401 answer.
    case rewriteChallenge(ChallengeQuirk)
    /// Forwards, and rewrites `Docker-Content-Digest` of a 200 answer.
    case digestHeader(DigestHeaderQuirk)
    /// Forwards, and adds these headers to the answer (Docker Hub's `ratelimit-*`).
    case addHeaders([String: String])
    /// Answers this, without asking the registry, when the request carries
    /// no `Authorization`; forwards it when it does (ECR's Basic challenge).
    case respondWithoutAuthorization(status: Int, headers: [String: String], body: String)
    /// Answers a blob request with a redirect to storage on the alternate
    /// listener (or, relative, on this one) serving the same bytes.
    case redirectToStorage(StorageBehaviour)
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
    /// Forwards `Range: bytes=N-[END]` as `bytes=N+offset-[END]`: a 206 for another range than asked.
    case shiftRange(by: Int64)
    /// Answers a tag list one page at a time, as Docker Hub, GHCR and Harbor
    /// do (distribution 2.8 ignores `n`): from the registry's whole list, in
    /// lexical order, the `n` (else `size`) tags after `last`, with a
    /// `Link: <…?n=…&last=…>; rel="next"` while more remain.
    case pageTagList(size: Int)
}

extension FaultAction {
    /// Whether the action only rewrites what the registry answers, and so
    /// applies to a request whose token was refused as well.
    var rewritesAnswer: Bool {
        switch self {
        case .passThrough, .rewriteChallenge, .addHeaders: true
        default: false
        }
    }
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
    private let connections: ConnectionTasks<FaultProxy>
    private let channels: [any Channel]

    struct ProxyState: Sendable {
        var rules: [(rule: FaultRule, remaining: Int?)] = []
        var tokenFault: TokenFault = .none
        var usedTokens: Set<String> = []
        var authorizedRequests = 0
        var realmOverride: String?
        var records: [ProxiedRequest] = []
        var bytesByPath: [String: Int64] = [:]
        var redirects: [String: (uri: String, authorization: String?, storage: StorageBehaviour)] = [:]
        /// Single-use redirect ids already used.
        var expiredRedirects: Set<String> = []
    }

    private init(port: Int, alternatePort: Int, forwardProxyPort: Int, upstream: TestRegistry, connections: ConnectionTasks<FaultProxy>, channels: [any Channel]) {
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
        let connections = ConnectionTasks<FaultProxy>()
        func bind(_ listener: ProxyListener) async throws -> any Channel {
            try await connections.httpListener { proxy, connection in await proxy.serve(connection, listener: listener) }
                .bind(host: "127.0.0.1", port: 0).get()
        }
        func bindForwardProxy() async throws -> any Channel {
            try await connections.byteListener { proxy, connection in await proxy.tunnel(connection) }.bind(host: "127.0.0.1", port: 0).get()
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

    // Serving and the phases of a request: FaultProxy+Handling.swift.

    /// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    public static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}
