import ImageReference

/// The scopes a docker image is looked up under, most specific first, as
/// containers/image looks them up in policy.json and registries.d:
/// `host[:port]/ns/repo:tag` (or `@digest`), `host[:port]/ns/repo`,
/// `host[:port]/ns`, `host[:port]`, then `*.domain` wildcards of the host
/// without its port, longest first.
public enum PolicyScope {
    /// The candidates for `image`, in the order they are tried.
    ///
    /// The first is the image's full identity: its tag when it has one
    /// (`latest` when it has neither tag nor digest), else its digest.
    public static func candidates(for image: ImageReference) -> [String] {
        var scopes = [identity(of: image)]
        var name = image.name
        while true {
            scopes.append(name)
            guard let slash = name.lastIndex(of: "/") else { break }
            name = String(name[..<slash])
        }
        // The host's port is dropped before the wildcards: example.com:5000 → *.com.
        if !name.hasPrefix("["), let colon = name.firstIndex(of: ":") { name = String(name[..<colon]) }
        while let dot = name.firstIndex(of: ".") {
            name = String(name[name.index(after: dot)...])
            scopes.append("*." + name)
        }
        return scopes
    }

    /// `host/repo:tag`, or `host/repo@digest` for an image named by digest only.
    public static func identity(of image: ImageReference) -> String {
        if let tag = image.tag { return "\(image.name):\(tag)" }
        if let digest = image.digest { return "\(image.name)@\(digest)" }
        return "\(image.name):latest"
    }
}

/// The requirements a policy puts on one image, and which section of the
/// file they come from.
public struct ApplicablePolicy: Sendable, Equatable {
    /// Which section of the policy applies.
    public enum Section: Sendable, Equatable, CustomStringConvertible {
        /// `transports.docker["SCOPE"]`.
        case scope(String)
        /// `transports.docker[""]`, the transport's default.
        case transportDefault
        /// `default`.
        case policyDefault

        public var description: String {
            switch self {
            case .scope(let scope): "transports.docker[\(quoted(scope))]"
            case .transportDefault: "transports.docker[\"\"]"
            case .policyDefault: "default"
            }
        }
    }

    /// The policy file.
    public var file: String
    public var section: Section
    /// Every one of them must hold.
    public var requirements: [PolicyRequirement]

    public init(file: String, section: Section, requirements: [PolicyRequirement]) {
        self.file = file
        self.section = section
        self.requirements = requirements
    }

    /// The key and certificate files the requirements name, each once, in
    /// order: the caller reads them and hands their bytes to the evaluation.
    public var filesToRead: [String] {
        var seen: Set<String> = []
        return requirements.flatMap(\.filesToRead).filter { seen.insert($0).inserted }
    }

    /// Whether a requirement reads simple-signing (OpenPGP) signatures.
    public var needsSimpleSigning: Bool {
        requirements.contains { if case .signedBy = $0 { true } else { false } }
    }

    /// Whether a requirement reads sigstore (cosign) signatures.
    public var needsSigstore: Bool {
        requirements.contains { if case .sigstoreSigned = $0 { true } else { false } }
    }
}

extension TrustPolicy {
    /// The requirements for `image` from the most specific matching scope
    /// of `transports.docker`, else that transport's `""` scope, else `default`.
    public func requirements(for image: ImageReference) -> ApplicablePolicy {
        if let scopes = transports[Self.dockerTransport] {
            for scope in PolicyScope.candidates(for: image) {
                if let requirements = scopes[scope] { return ApplicablePolicy(file: file, section: .scope(scope), requirements: requirements) }
            }
            if let requirements = scopes[""] { return ApplicablePolicy(file: file, section: .transportDefault, requirements: requirements) }
        }
        return ApplicablePolicy(file: file, section: .policyDefault, requirements: defaultRequirements)
    }
}
