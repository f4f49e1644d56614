#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Which of an ``InProcessRegistry``'s listeners a request arrived at.
public enum RegistryListener: String, Sendable, Hashable {
    /// `127.0.0.1:port`, the registry clients are pointed at.
    case main
    /// `127.0.0.1:otherPort`: another origin, for storage redirects, token
    /// realms and tag-list pages that leave the registry.
    case other
    /// The unix socket, when one was asked for: what an `http+unix://` URL
    /// would reach (a stand-in for a local daemon's socket).
    case unixSocket
    /// `127.0.0.1:proxyPort`, a forward proxy: each `CONNECT` is recorded
    /// (its target as the host) and tunnelled to the main listener.
    case proxy
}

/// What a request path is, by the Distribution API's routes.
public enum RegistryRoute: String, Sendable, Hashable {
    /// `/v2/`.
    case base
    /// `/v2/NAME/manifests/REFERENCE`.
    case manifest
    /// `/v2/NAME/blobs/DIGEST`.
    case blob
    /// `/v2/NAME/tags/list`.
    case tags
    /// `/v2/NAME/referrers/DIGEST`.
    case referrers
    /// `/token`.
    case token
    /// `/storage/DIGEST`: where blob redirects point.
    case storage
    /// Anything else.
    case other
}

/// One request as the registry saw it.
public struct SeenRequest: Sendable {
    public var listener: RegistryListener
    public var method: String
    /// Path and query as received (an absolute-form URI reduced to them).
    public var uri: String
    /// The path without the query, percent-encoding kept.
    public var path: String
    public var route: RegistryRoute
    /// `Host`, or the host of an absolute-form URI (a request through a proxy).
    public var host: String?
    /// Every header, in order.
    public var headers: [(name: String, value: String)]
    /// The status answered; 0 while it is being answered or when none was sent.
    public var status: Int = 0
    /// Body bytes sent.
    public var bodyBytes: Int = 0
    /// The rule that applied, described; nil when the registry answered as itself.
    public var behaviour: String?
    /// When the request arrived.
    public var arrived = ContinuousClock.now
    /// When the answer's head was sent; nil when none was.
    public var headSent: ContinuousClock.Instant?

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public var authorization: String? { header("Authorization") }
    public var hasAuthorization: Bool { authorization != nil }
    /// The query's items, percent-decoded.
    public var query: [(name: String, value: String)] {
        (URLComponents(string: uri)?.queryItems ?? []).map { ($0.name, $0.value ?? "") }
    }
}

/// The requests a ``RegistryRule`` applies to. The closure runs while the
/// registry holds its lock: it decides from the request alone and must not
/// call the registry.
public struct RequestMatch: Sendable {
    public var matches: @Sendable (SeenRequest) -> Bool

    public init(_ matches: @escaping @Sendable (SeenRequest) -> Bool) {
        self.matches = matches
    }

    /// Requests of `route`, of `method` when given, at `listener` when given.
    public static func route(_ route: RegistryRoute, method: String? = nil, listener: RegistryListener? = nil) -> RequestMatch {
        RequestMatch { request in
            request.route == route && (method == nil || request.method == method) && (listener == nil || request.listener == listener)
        }
    }

    /// `GET` of blob `digest` (at the registry or at storage).
    public static func blobGET(_ digest: String) -> RequestMatch {
        RequestMatch { request in
            request.method == "GET" && (request.route == .blob || request.route == .storage) && request.path.hasSuffix("/" + digest)
        }
    }

    public static let blobGETs = route(.blob, method: "GET")
    public static let manifestGETs = route(.manifest, method: "GET")
    public static let manifestHEADs = route(.manifest, method: "HEAD")
    public static let tagLists = route(.tags, method: "GET")
    public static let tokenRequests = route(.token)
    public static let storageGETs = route(.storage, method: "GET")
    /// Every request to the Distribution API (`/v2/…`).
    public static let registryRequests = RequestMatch { [.base, .manifest, .blob, .tags, .referrers].contains($0.route) }
    public static let everything = RequestMatch { _ in true }
}

/// Where a redirect points.
public enum RedirectTarget: Sendable, Hashable {
    /// The blob at `/storage/DIGEST` on the other listener: another origin,
    /// which answers any `Authorization` with S3's 400.
    case storage
    /// `/storage/DIGEST` on the same origin, written as a relative reference.
    case relativeStorage
    /// This `Location`, as it is (`file:///etc/passwd`, `ftp://…`, `http+unix://…`).
    case location(String)
}

/// What the registry does to a request a rule matches: answer something
/// else, or change its own answer on the way out.
public enum RegistryBehaviour: Sendable {
    // Answers of their own; the registry is not asked.

    /// This status, headers and body.
    case respond(status: Int, headers: [(String, String)] = [], body: String = "")
    /// 429 or 503 with a `Retry-After` (none when nil) and a registry error body.
    case retryLater(status: Int, retryAfter: RetryAfter?)
    /// A redirect (301, 302, 303, 307, 308) to `target`.
    case redirect(status: Int = 307, to: RedirectTarget)
    /// Reads the request and answers nothing, holding the connection for
    /// `duration` (until the client closes it or the registry stops when nil).
    case stallBeforeHeaders(Duration? = nil)
    /// Closes the connection without a word.
    case close

    // The registry's own answer, changed.

    /// The challenges of a 401 replaced by what `rewrite` makes of the registry's
    /// (`[]` for none; several for several headers; one string holding
    /// several challenges for one header).
    case challenges(@Sendable (String) -> [String])
    /// `Content-Length` as it should be, and the connection closed after
    /// `bytes` of the body.
    case cutBody(after: Int)
    /// `bytes` of the body, then nothing for `duration` (or until the client
    /// closes or the registry stops when nil), then the rest; with
    /// `ignoringRange`, the whole body with 200 each time, whatever `Range`
    /// asked, so every attempt stalls at the same byte.
    case stallBody(after: Int, for: Duration? = nil, ignoringRange: Bool = false)
    /// The body `bytes` at a time, one batch every `interval`.
    case trickle(bytes: Int = 1, every: Duration)
    /// `Content-Length: length` whatever the body is; as many bytes of it as
    /// that says (the connection closed when the body is shorter).
    case contentLength(Int)
    /// `Docker-Content-Digest` replaced by `value`, or removed when nil.
    case digestHeader(String?)
    /// Headers added to (or replacing the registry's in) the answer.
    case headers([(String, String)])
    /// The body's byte at `offset` inverted.
    case corruptByte(at: Int)
    /// The whole body with 200, whatever `Range` asked.
    case ignoreRange
    /// A tag list's `Link` target replaced by what `rewrite` makes of it
    /// (another origin, `http+unix://…`).
    case linkNext(@Sendable (String) -> String)
}

extension RegistryBehaviour: CustomStringConvertible {
    public var description: String {
        switch self {
        case .respond(let status, _, _): "respond \(status)"
        case .retryLater(let status, let after): "\(status) Retry-After \(after.map { "\($0)" } ?? "none")"
        case .redirect(let status, let target): "redirect \(status) to \(target)"
        case .stallBeforeHeaders: "stall before headers"
        case .close: "close"
        case .challenges: "challenges rewritten"
        case .cutBody(let bytes): "body cut after \(bytes) bytes"
        case .stallBody(let bytes, _, _): "body stalled after \(bytes) bytes"
        case .trickle(let bytes, let interval): "trickle \(bytes) bytes every \(interval)"
        case .contentLength(let length): "Content-Length \(length)"
        case .digestHeader(let value): "Docker-Content-Digest \(value ?? "removed")"
        case .headers: "headers added"
        case .corruptByte(let offset): "byte \(offset) corrupted"
        case .ignoreRange: "Range ignored"
        case .linkNext: "Link rewritten"
        }
    }
}

extension RegistryBehaviour {
    /// Whether the behaviour applies to an answer that is a 401 challenge
    /// (`challenged`) or to one that is not. A front's answers (`respond`,
    /// `retryLater`, stalls, `close`) and added headers come before the
    /// registry looks at credentials, and apply to both; `challenges` only
    /// to a 401; everything else (a redirect, what is done to a body) only
    /// to a request the registry serves, as a registry checks credentials
    /// before it redirects to storage.
    func applies(challenged: Bool) -> Bool {
        switch self {
        case .respond, .retryLater, .stallBeforeHeaders, .close, .headers: true
        case .challenges: challenged
        default: !challenged
        }
    }
}

/// One scripted behaviour: which requests, what happens, how many times.
public struct RegistryRule: Sendable {
    public var match: RequestMatch
    public var behaviour: RegistryBehaviour
    /// How many matching requests it applies to; nil for every one.
    public var times: Int?

    public init(_ match: RequestMatch, _ behaviour: RegistryBehaviour, times: Int? = nil) {
        self.match = match
        self.behaviour = behaviour
        self.times = times
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) for `date`.
public func imfFixdate(_ date: Date) -> String {
    let seconds = Int(date.timeIntervalSince1970.rounded(.down))
    let days = seconds.floorDivided(by: 86400)
    let time = seconds - days * 86400
    // Civil from days (Howard Hinnant's algorithm).
    let shifted = days + 719_468
    let era = shifted.floorDivided(by: 146_097)
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((days % 7) + 7) % 7]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(weekday), \(two(day)) \(months[month - 1]) \(year) \(two(time / 3600)):\(two(time / 60 % 60)):\(two(time % 60)) GMT"
}

extension Int {
    fileprivate func floorDivided(by divisor: Int) -> Int {
        self >= 0 ? self / divisor : (self - divisor + 1) / divisor
    }
}
