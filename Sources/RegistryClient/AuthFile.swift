import Foundation
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
            data = try Data(contentsOf: URL(fileURLWithPath: path))
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

    /// The credential this file holds for a registry, if any.
    func credential(registry: String, repository: String, environment: [String: String]) throws(RegistryError) -> ResolvedCredential? {
        let hosts = Self.hostAliases(registry)
        if let helpers = document.credHelpers {
            for (key, helper) in helpers where hosts.contains(Self.normalizedKey(key)) {
                return try runHelper(helper, serverURL: key, environment: environment)
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
                    return ResolvedCredential(credential, origin: "\(path) (\(key))")
                }
            }
        }
        if let store = document.credsStore {
            let serverURL = registry == "docker.io" ? "https://index.docker.io/v1/" : registry
            return try runHelper(store, serverURL: serverURL, environment: environment)
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

    /// Runs `docker-credential-NAME get` with the server URL on stdin, found
    /// on the `PATH` of `environment` (the resolver's, which is the process's).
    private func runHelper(_ name: String, serverURL: String, environment: [String: String]) throws(RegistryError) -> ResolvedCredential? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker-credential-\(name)", "get"]
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw .credentialHelper(name: name, detail: "cannot start it: \(CredentialResolver.describe(error))")
        }
        // A helper that is missing exits before reading: its stdin is then a broken pipe, not a crash.
        try? input.fileHandleForWriting.write(contentsOf: Data(serverURL.utf8))
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let stdoutText = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            if process.terminationStatus == 127 {
                throw .credentialHelper(name: name, detail: "docker-credential-\(name) is not on PATH")
            }
            if (stdoutText + errorText).lowercased().contains("credentials not found") { return nil }
            // Its stderr says why (env's "Permission denied", a locked keychain); stdout
            // is never quoted, as a helper may print a secret there.
            let reason = errorText.split(whereSeparator: \.isNewline).last.map { ": " + $0.prefix(200) } ?? ""
            throw .credentialHelper(name: name, detail: "exit status \(process.terminationStatus)\(reason)")
        }
        struct HelperAnswer: Decodable {
            var Username: String?
            var Secret: String?
        }
        guard let answer = try? JSONDecoder().decode(HelperAnswer.self, from: data), let secret = answer.Secret else {
            throw .credentialHelper(name: name, detail: "its answer is not the JSON a credential helper prints")
        }
        let origin = "docker-credential-\(name)"
        if answer.Username == "<token>" { return ResolvedCredential(.identityToken(secret), origin: origin) }
        return ResolvedCredential(.basic(username: answer.Username ?? "", password: secret), origin: origin)
    }

    /// An auths key in the bare `host[/path]` form: scheme, `/v1/`, `/v2/` and trailing slashes removed.
    static func normalizedKey(_ key: String) -> String {
        var text = Substring(key.lowercased())
        if let range = text.range(of: "://") { text = text[range.upperBound...] }
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
