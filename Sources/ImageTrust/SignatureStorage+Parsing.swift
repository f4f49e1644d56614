import ImageReference

/// A registries.d(5) file that cannot be used: it names the file, the line
/// when there is one, and what is wrong.
public struct SignatureStorageError: UserFacingError, Equatable {
    public var file: String
    public var line: Int?
    public var reason: String

    public init(file: String, line: Int?, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var message: String {
        "registries.d file \(file)\(line.map { ":\($0)" } ?? ""): \(reason)"
    }

    public var hints: [String] {
        ["containers-registries.d(5) describes the format; skopeo and podman read the same directory"]
    }

    public var exitStatus: ExitStatus { .usage }
}

extension SignatureStorageConfiguration {
    /// Merges the `*.yaml` files of a registries.d directory, given as
    /// (name, contents) in any order.
    ///
    /// Two files defining `default-docker`, or the same `docker:` scope,
    /// are an error naming both (as in containers/image). Keys the format
    /// does not have are collected in ``ignoredKeys``.
    public init(files: [(name: String, contents: [UInt8])]) throws(SignatureStorageError) {
        self.init()
        for (name, contents) in files.sorted(by: { $0.name < $1.name }) {
            let file = try Self.parse(contents, file: name)
            ignoredKeys += file.ignoredKeys
            if let entry = file.defaultDocker {
                if let earlier = defaultDocker {
                    throw SignatureStorageError(file: name, line: nil, reason: "default-docker is defined both here and in \(earlier.file)")
                }
                defaultDocker = entry
            }
            for (scope, entry) in file.docker.sorted(by: { $0.key < $1.key }) {
                if let earlier = docker[scope] {
                    throw SignatureStorageError(file: name, line: nil, reason: "docker scope \(quoted(scope)) is defined both here and in \(earlier.file)")
                }
                docker[scope] = entry
            }
        }
    }

    /// One file's entries.
    static func parse(_ contents: [UInt8], file: String) throws(SignatureStorageError) -> SignatureStorageConfiguration {
        guard let text = String(validating: contents, as: UTF8.self) else {
            throw SignatureStorageError(file: file, line: nil, reason: "is not UTF-8 text")
        }
        let document: YAMLSubset.Node
        do {
            document = try YAMLSubset.parse(text)
        } catch {
            throw SignatureStorageError(file: file, line: error.line, reason: error.reason)
        }
        var result = SignatureStorageConfiguration()
        guard case .mapping(let entries) = document else {
            if document == .null { return result }
            throw SignatureStorageError(file: file, line: 1, reason: "the document is not a mapping")
        }
        for entry in entries {
            switch entry.key {
            case "default-docker":
                result.defaultDocker = try namespace(entry, file: file, ignored: &result.ignoredKeys)
            case "docker":
                guard case .mapping(let scopes) = entry.value else {
                    if entry.value == .null { continue }
                    throw SignatureStorageError(file: file, line: entry.line, reason: "docker: must be a mapping of scopes")
                }
                for scope in scopes {
                    result.docker[scope.key] = try namespace(scope, file: file, ignored: &result.ignoredKeys) ?? SignatureStorageNamespace(file: file)
                }
            default:
                result.ignoredKeys.append("\(file):\(entry.line): \(entry.key)")
            }
        }
        return result
    }

    /// An entry's settings; nil for an entry with no value at all.
    private static func namespace(_ entry: YAMLSubset.Entry, file: String, ignored: inout [String]) throws(SignatureStorageError) -> SignatureStorageNamespace? {
        guard case .mapping(let settings) = entry.value else {
            if entry.value == .null { return nil }
            throw SignatureStorageError(file: file, line: entry.line, reason: "\(entry.key): must be a mapping")
        }
        var namespace = SignatureStorageNamespace(file: file)
        for setting in settings {
            switch setting.key {
            case "lookaside": namespace.lookaside = try string(setting, file: file)
            case "lookaside-staging": namespace.lookasideStaging = try string(setting, file: file)
            case "sigstore": namespace.sigstore = try string(setting, file: file)
            case "sigstore-staging": namespace.sigstoreStaging = try string(setting, file: file)
            case "use-sigstore-attachments": namespace.useSigstoreAttachments = try bool(setting, file: file)
            default: ignored.append("\(file):\(setting.line): \(entry.key).\(setting.key)")
            }
        }
        return namespace
    }

    /// A scalar as text; null and empty text are "not set".
    private static func string(_ entry: YAMLSubset.Entry, file: String) throws(SignatureStorageError) -> String? {
        switch entry.value {
        case .null: return nil
        case .scalar(let text, _): return text.isEmpty ? nil : text
        case .mapping: throw SignatureStorageError(file: file, line: entry.line, reason: "\(entry.key): must be a URL, not a mapping")
        }
    }

    /// A boolean as YAML (and Go's YAML reader, for a boolean field) spells it.
    private static func bool(_ entry: YAMLSubset.Entry, file: String) throws(SignatureStorageError) -> Bool? {
        switch entry.value {
        case .null:
            return nil
        case .scalar(let text, quoted: false) where ["true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"].contains(text):
            return true
        case .scalar(let text, quoted: false) where ["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"].contains(text):
            return false
        default:
            throw SignatureStorageError(file: file, line: entry.line, reason: "\(entry.key): must be true or false")
        }
    }
}
