#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference

/// A URL a registry handed over, by what it came in: what the gate's
/// refusals name.
public enum HandedURL: Sendable, Hashable, CustomStringConvertible {
    /// A `Location` of a 3xx answer to `from`.
    case redirect(from: String)
    /// The `Link: <…>; rel="next"` page of a list at `from`.
    case nextPage(from: String)
    /// The realm of a `WWW-Authenticate: Bearer` challenge.
    case tokenRealm
    /// A URL a manifest lists for a non-distributable layer.
    case foreignLayer
    /// A signature store's URL (a lookaside, a referrers listing).
    case signatureStore

    public var description: String {
        switch self {
        case .redirect(let from): "redirect from \(from)"
        case .nextPage(let from): "next page of \(from)"
        case .tokenRealm: "token realm"
        case .foreignLayer: "URL of a non-distributable layer"
        case .signatureStore: "signature location"
        }
    }
}

/// The one gate every URL a registry hands over passes before hocker asks
/// it anything: a `Location`, a `Link` page, a token realm, a foreign
/// layer's `urls`, a lookaside or referrers URL.
///
/// - http and https only (no `file:`, `ftp:`, `http+unix:` — the last
///   would reach a local socket such as the Docker daemon's);
/// - plain http only to a host the plain-http rule allows: a loopback host
///   (`localhost`, 127.0.0.0/8, `::1`) when the registry is on loopback too,
///   the registry the user named with `http://` (or that fell back to it),
///   or any host under `--insecure`;
/// - a list's next page only on the origin of the list (a tag list is the
///   registry's, not another host's).
///
/// Which requests carry credentials is the request path's rule, on top of
/// this: the registry's `Authorization` only to the registry's origin (a
/// cross-origin hop drops it), the user's credentials only over https or
/// to loopback (``RegistryClient/mayCarryCredentials(url:insecure:)``).
struct URLGate: Sendable {
    /// The registry the client talks to, as requests reach it.
    var endpoint: RegistryEndpoint
    /// `--insecure`: plain http to any host.
    var insecure: Bool

    /// `text`, resolved against `base` when it is relative, if it may be
    /// asked; else the refusal, naming the URL and why.
    func admit(_ text: String, relativeTo base: String? = nil, as kind: HandedURL) throws(RegistryError) -> String {
        let baseURL = base.flatMap { URL(string: $0) }
        guard let url = URL(string: text, relativeTo: baseURL)?.absoluteURL else {
            throw .refusedURL(url: text, kind: kind, reason: "it is not a URL")
        }
        let absolute = url.absoluteString
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw .refusedURL(url: absolute, kind: kind, reason: "only http and https URLs are followed, never \(url.scheme.map { "\($0):" } ?? "a URL without a scheme")")
        }
        guard let host = url.host, !host.isEmpty else {
            throw .refusedURL(url: absolute, kind: kind, reason: "it names no host")
        }
        if scheme == "http", !allowsPlainHTTP(to: Self.authority(of: url)) {
            throw .refusedURL(
                url: absolute, kind: kind,
                reason: "plain http to \(host) is not allowed (only https, or plain http to loopback from a registry on loopback, to a registry named with http://, or under --insecure)")
        }
        if case .nextPage(let from) = kind, !Self.sameOrigin(from, absolute) {
            throw .refusedURL(url: absolute, kind: kind, reason: "it is on another origin than the list")
        }
        return absolute
    }

    /// Whether plain http may go to `authority` (`HOST[:PORT]`).
    /// Loopback counts only for a registry on loopback itself: a remote
    /// registry that names `http://127.0.0.1:PORT` (a realm, a redirect)
    /// would reach whatever listens on this machine, in clear.
    func allowsPlainHTTP(to authority: String) -> Bool {
        insecure || (RegistryEndpoint.isLoopback(host: authority) && RegistryEndpoint.isLoopback(host: endpoint.host))
            || (authority.lowercased() == endpoint.host.lowercased() && (endpoint.scheme == "http" || endpoint.fallsBackToPlainHTTP))
    }

    /// `HOST[:PORT]` of a URL, as it is written in it.
    static func authority(of url: URL) -> String {
        guard let host = url.host else { return "" }
        let shown = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return url.port.map { "\(shown):\($0)" } ?? shown
    }

    /// Whether two URLs have the same scheme, host and port.
    static func sameOrigin(_ a: String, _ b: String) -> Bool {
        guard let x = URL(string: a), let y = URL(string: b) else { return false }
        func port(_ url: URL) -> Int { url.port ?? (url.scheme?.lowercased() == "https" ? 443 : 80) }
        return x.scheme?.lowercased() == y.scheme?.lowercased() && x.host?.lowercased() == y.host?.lowercased() && port(x) == port(y)
    }
}
