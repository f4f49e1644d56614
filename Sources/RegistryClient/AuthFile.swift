#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference

/// A docker `config.json` or containers `auth.json`: `auths` (base64
/// `user:password` in `auth`, or `identitytoken`), `credHelpers` per
/// registry, and a default `credsStore`.
struct AuthFile: Sendable {
    struct Entry: Decodable, Sendable {
        var auth: String?
        var username: String?
        var password: String?
        var identitytoken: String?
        /// A bearer token for the registry itself, sent as it is.
        var registrytoken: String?
    }

    struct Document: Decodable, Sendable {
        var auths: [String: Entry]?
        var credHelpers: [String: String]?
        var credsStore: String?
    }

    let path: String
    let document: Document

    init(path: String) throws(CredentialError) {
        let data: Data
        do {
            data = try LocalFile.read(path)
        } catch {
            throw .unreadable(path: path, detail: CredentialResolver.describe(error))
        }
        try self.init(path: path, data: data)
    }

    init(path: String, data: Data) throws(CredentialError) {
        self.path = path
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            // Never echo the decoder's view of the data: it could quote a secret.
            throw .malformedAuthFile(path: path, reason: Self.describeShape(error))
        }
        for (key, entry) in document.auths ?? [:] {
            if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth), let text = String(data: decoded, encoding: .utf8), text.contains(":") else {
                    throw .malformedAuthFile(path: path, reason: "the \"auth\" of \"\(key)\" is not base64 of username:password")
                }
            }
        }
        for name in Array((document.credHelpers ?? [:]).values) + [document.credsStore].compactMap({ $0 }) {
            guard Self.isValidHelperName(name) else {
                throw .malformedAuthFile(path: path, reason: "'\(name.prefix(40))' is not a credential helper name")
            }
        }
    }

    /// Where this file says a registry's credential is.
    enum Lookup: Sendable {
        /// In the file itself.
        case entry(ResolvedCredential)
        /// With a credential helper, asked for this server URL.
        case helper(name: String, serverURL: String)
    }

    /// Where the credential this file holds for a registry is; nil when it
    /// has none. Reads nothing but the file: a helper is named, not run.
    func lookup(registry: String, repository: String) -> Lookup? {
        let hosts = Self.hostAliases(registry)
        if let helpers = document.credHelpers {
            for (key, helper) in helpers where hosts.contains(Self.normalizedKey(key)) {
                return .helper(name: helper, serverURL: key)
            }
        }
        if let auths = document.auths {
            // The longest match wins: containers' auth.json may key by namespace or repository.
            let matches = auths.compactMap { key, entry -> (Int, String, Entry)? in
                let normalized = Self.normalizedKey(key)
                if hosts.contains(normalized) { return (0, key, entry) }
                for host in hosts {
                    let full = "\(host)/\(repository)"
                    if full == normalized || full.hasPrefix(normalized + "/") { return (normalized.count, key, entry) }
                }
                return nil
            }.sorted { $0.0 > $1.0 }
            for (_, key, entry) in matches {
                if let credential = Self.credential(of: entry) {
                    return .entry(ResolvedCredential(credential, origin: "\(path) (\(key))"))
                }
            }
        }
        if let store = document.credsStore {
            return .helper(name: store, serverURL: registry == "docker.io" ? "https://index.docker.io/v1/" : registry)
        }
        return nil
    }

    /// The user name of an entry: `username`, else the part of `auth` before its `:`.
    private static func username(of entry: Entry) -> String? {
        if let username = entry.username, !username.isEmpty { return username }
        guard let auth = entry.auth, let data = Data(base64Encoded: auth), let text = String(data: data, encoding: .utf8),
              let colon = text.firstIndex(of: ":"), colon != text.startIndex
        else { return nil }
        return String(text[..<colon])
    }

    private static func credential(of entry: Entry) -> Credential? {
        if let token = entry.registrytoken, !token.isEmpty { return .bearer(token: token) }
        if let token = entry.identitytoken, !token.isEmpty { return .identityToken(token, username: Self.username(of: entry)) }
        if let auth = entry.auth, !auth.isEmpty, let data = Data(base64Encoded: auth),
           let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        {
            return .basic(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        }
        if let username = entry.username, let password = entry.password, !username.isEmpty {
            return .basic(username: username, password: password)
        }
        return nil
    }

    /// An auths key in the bare `host[/path]` form: scheme, `/v1/`, `/v2/` and trailing slashes removed.
    static func normalizedKey(_ key: String) -> String {
        var text = Substring(key.lowercased())
        if let range = text.firstRange(of: "://") { text = text[range.upperBound...] }
        while text.hasSuffix("/") { text = text.dropLast() }
        for suffix in ["/v1", "/v2"] where text.hasSuffix(suffix) { text = text.dropLast(suffix.count) }
        return String(text)
    }

    /// The names an auth file may use for a registry.
    static func hostAliases(_ registry: String) -> Set<String> {
        let name = registry.lowercased()
        return name == ImageReference.dockerHub ? ImageReference.dockerHubAliases : [name]
    }

    private static func isValidHelperName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { c in
                (0x30...0x39).contains(c) || (0x61...0x7a).contains(c) || (0x41...0x5a).contains(c)
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
            }
    }

    private static func describeShape(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "unexpected type at \(path.isEmpty ? "top level" : path)"
        case DecodingError.dataCorrupted:
            return "not valid JSON"
        default:
            return "not a docker config.json or containers auth.json"
        }
    }
}
