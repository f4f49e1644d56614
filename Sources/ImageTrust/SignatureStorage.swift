import ImageReference

/// One `default-docker` or `docker:` entry of registries.d(5): where the
/// signatures of the images it covers are, and whether cosign attachments
/// are read from the registry.
public struct SignatureStorageNamespace: Sendable, Equatable {
    /// `lookaside`: the base URL signatures are read from (`https://…`, `http://…`, `file://…`).
    public var lookaside: String?
    /// `lookaside-staging`: where signatures are written; never read.
    public var lookasideStaging: String?
    /// `sigstore`: the old name of `lookaside` (not of cosign); read when `lookaside` is absent.
    public var sigstore: String?
    /// `sigstore-staging`: the old name of `lookaside-staging`.
    public var sigstoreStaging: String?
    /// `use-sigstore-attachments`: whether cosign signatures are read from the registry (`sha256-<hex>.sig`).
    public var useSigstoreAttachments: Bool?
    /// The file the entry is in.
    public var file: String

    public init(
        lookaside: String? = nil, lookasideStaging: String? = nil, sigstore: String? = nil, sigstoreStaging: String? = nil,
        useSigstoreAttachments: Bool? = nil, file: String
    ) {
        self.lookaside = lookaside
        self.lookasideStaging = lookasideStaging
        self.sigstore = sigstore
        self.sigstoreStaging = sigstoreStaging
        self.useSigstoreAttachments = useSigstoreAttachments
        self.file = file
    }

    /// The URL signatures are read from: `lookaside`, else `sigstore`.
    public var readURL: String? { lookaside ?? sigstore }
}

/// Where to look for an image's signatures, from registries.d.
public struct SignatureSources: Sendable, Equatable {
    /// The lookaside base URL; the built-in default when nothing configures one.
    public var lookaside: String
    /// Which entry gave ``lookaside``: `docker["SCOPE"] in FILE`, `default-docker in FILE`, or `built-in default`.
    public var lookasideOrigin: String
    /// Whether cosign signatures attached in the registry are read, as `use-sigstore-attachments` says
    /// (skopeo and podman read none when it is not `true`).
    public var useSigstoreAttachments: Bool

    public init(lookaside: String, lookasideOrigin: String, useSigstoreAttachments: Bool) {
        self.lookaside = lookaside
        self.lookasideOrigin = lookasideOrigin
        self.useSigstoreAttachments = useSigstoreAttachments
    }

    /// The URL of signature number `index` (1-based) of the manifest
    /// `manifestDigest` of `image`:
    /// `<lookaside>/<repository>@<algorithm>=<hex>/signature-<index>`.
    /// Signatures are read from 1 on until the first that does not exist.
    public func lookasideURL(image: ImageReference, manifestDigest: Digest, index: Int) -> String {
        var base = lookaside
        var suffix = ""
        // A query or fragment stays after the path, as Go's url.URL keeps it.
        if let cut = base.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            suffix = String(base[cut...])
            base = String(base[..<cut])
        }
        return "\(base)/\(image.repository)@\(manifestDigest.algorithm.rawValue)=\(manifestDigest.hex)/signature-\(index)\(suffix)"
    }

    /// Where signatures are when nothing configures a lookaside: the
    /// system's store for root, the user's under `home` otherwise.
    public static func builtinLookaside(isRoot: Bool, home: String) -> String {
        isRoot ? "file:///var/lib/containers/sigstore" : "file://\(home)/.local/share/containers/sigstore"
    }
}

/// The registries.d(5) files merged: at most one `default-docker` among
/// them, and each `docker:` scope defined in one file only (as
/// containers/image merges them).
public struct SignatureStorageConfiguration: Sendable, Equatable {
    public var defaultDocker: SignatureStorageNamespace?
    /// Scope (`host[:port][/namespace…]`, or `*.domain`) → entry.
    public var docker: [String: SignatureStorageNamespace]
    /// Keys the format does not have, each as `FILE:LINE: KEY`; skopeo
    /// ignores them too, so they are warnings, not errors.
    public var ignoredKeys: [String]

    public init(defaultDocker: SignatureStorageNamespace? = nil, docker: [String: SignatureStorageNamespace] = [:], ignoredKeys: [String] = []) {
        self.defaultDocker = defaultDocker
        self.docker = docker
        self.ignoredKeys = ignoredKeys
    }

    /// Where the signatures of `image` are: the most specific `docker:`
    /// scope that sets a lookaside, else `default-docker`'s, else
    /// `builtinLookaside`; and independently the most specific entry that
    /// sets `use-sigstore-attachments`.
    ///
    /// - Parameter builtinLookaside: see ``SignatureSources/builtinLookaside(isRoot:home:)``.
    public func sources(for image: ImageReference, builtinLookaside: String) -> SignatureSources {
        let entries = PolicyScope.candidates(for: image).compactMap { scope in docker[scope].map { (scope, $0) } }
        var lookaside = (builtinLookaside, "built-in default")
        if let (scope, entry) = entries.first(where: { $0.1.readURL != nil }), let url = entry.readURL {
            lookaside = (url, "docker[\(quoted(scope))] in \(entry.file)")
        } else if let defaultDocker, let url = defaultDocker.readURL {
            lookaside = (url, "default-docker in \(defaultDocker.file)")
        }
        let attachments = entries.lazy.compactMap(\.1.useSigstoreAttachments).first ?? defaultDocker?.useSigstoreAttachments ?? false
        return SignatureSources(lookaside: lookaside.0, lookasideOrigin: lookaside.1, useSigstoreAttachments: attachments)
    }
}
