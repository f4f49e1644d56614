import Foundation

/// The manifest format an image is pushed in.
public enum PushFormat: Sendable, Hashable {
    /// Keep the OCI manifest / index as built.
    case oci
    /// Convert with `skopeo copy --format v2s2` to Docker schema 2 manifests (and a
    /// Docker manifest list for multi-platform images).
    case dockerSchema2
}

/// One platform's manifest as the registry serves it after a push.
public struct PushedManifest: Sendable {
    /// The platform (from the built image).
    public var platform: TestPlatform
    /// `sha256:<hex>` of the served manifest bytes.
    public var digest: String
    /// The served manifest's `mediaType`.
    public var mediaType: String
    /// The served manifest bytes.
    public var bytes: Data
    /// `bytes.count`.
    public var size: Int { bytes.count }
    /// The config digest (unchanged by format conversion).
    public var configDigest: String
    /// The config size.
    public var configSize: Int
    /// The config's media type in the served manifest.
    public var configMediaType: String
    /// Layer digests, bottom first (unchanged by format conversion).
    public var layerDigests: [String]
    /// Layer media types in the served manifest.
    public var layerMediaTypes: [String]
    /// The built layers (digest, size, diffID), bottom first.
    public var layers: [TestLayer]
}

/// An image as pushed to and served by a ``TestRegistry``.
public struct PushedImage: Sendable {
    /// `127.0.0.1:PORT`.
    public var hostPort: String
    /// The repository, e.g. `library/busybox`.
    public var repository: String
    /// The tag pushed.
    public var tag: String
    /// The format requested.
    public var format: PushFormat
    /// `sha256:<hex>` of the served top-level manifest (index/list or single manifest).
    public var digest: String
    /// The served top-level media type.
    public var mediaType: String
    /// The served top-level manifest bytes.
    public var manifestBytes: Data
    /// `true` when the top level is an OCI index or Docker manifest list.
    public var isIndex: Bool
    /// One entry per platform.
    public var manifests: [PushedManifest]

    /// `127.0.0.1:PORT/REPOSITORY:TAG`.
    public var reference: String { "\(hostPort)/\(repository):\(tag)" }
    /// The first (for single-platform images: the only) manifest.
    public var single: PushedManifest { manifests[0] }

    /// The manifest for `platform`, if pushed.
    public func manifest(for platform: TestPlatform) -> PushedManifest? {
        manifests.first { $0.platform == platform }
    }
}

extension TestImageBuilder {
    /// Pushes `image` with `skopeo copy` and reports the manifests as the registry serves them.
    ///
    /// Runs `skopeo copy --dest-tls-verify=false [--all] [--format v2s2] [--dest-creds u:p]
    /// oci:LAYOUT:TAG docker://127.0.0.1:PORT/REPO:TAG` (for an https registry
    /// `--dest-cert-dir` with its ``TestRegistry/TLS/clientDirectory`` instead), then reads the manifest (and for
    /// an index each child) back with `skopeo inspect --raw`, hashes the bytes, and checks
    /// config and layer digests are the built ones.
    ///
    /// - Parameters:
    ///   - image: a layout from ``build(tag:platforms:layers:forceIndex:)``.
    ///   - registry: the target registry.
    ///   - repository: e.g. `test/busybox`.
    ///   - tag: the tag to push as.
    ///   - format: `.oci` keeps the manifests, `.dockerSchema2` converts them.
    ///   - credentials: push (and read-back) credentials; `nil` for anonymous.
    public func push(
        _ image: TestImage,
        to registry: TestRegistry,
        repository: String,
        tag: String,
        format: PushFormat = .oci,
        credentials: (user: String, password: String)? = nil
    ) async throws -> PushedImage {
        let destination = "docker://\(registry.hostPort)/\(repository):\(tag)"
        var extra: [String] = []
        if image.isMultiPlatform { extra.append("--all") }
        if format == .dockerSchema2 { extra += ["--format", "v2s2"] }
        let certDirectory = registry.tls?.clientDirectory
        try await Skopeo.copy(
            image.ociReference, destination, destinationCredentials: credentials, extraArguments: extra,
            destinationCertDirectory: certDirectory)

        let reference = "\(registry.hostPort)/\(repository):\(tag)"
        let topBytes = try await Skopeo.inspectRaw(destination, credentials: credentials, certDirectory: certDirectory)
        let top = try parseJSONObject(topBytes, reference: reference)
        let topMediaType = top["mediaType"] as? String ?? ""
        let isIndex = topMediaType == TestMediaTypes.ociIndex || topMediaType == TestMediaTypes.dockerManifestList
            || (top["manifests"] != nil && top["layers"] == nil)
        guard isIndex == image.isMultiPlatform else {
            throw TestBedError.pushVerificationFailed(
                reference: reference,
                reason: "built \(image.isMultiPlatform ? "an index" : "a single manifest") but the registry serves \(topMediaType)")
        }

        var pushed: [PushedManifest] = []
        if isIndex {
            let entries = top["manifests"] as? [[String: Any]] ?? []
            for built in image.manifests {
                guard
                    let entry = entries.first(where: { entry in
                        let platform = entry["platform"] as? [String: Any] ?? [:]
                        return platform["os"] as? String == built.platform.os
                            && platform["architecture"] as? String == built.platform.architecture
                            && platform["variant"] as? String == built.platform.variant
                    }),
                    let childDigest = entry["digest"] as? String
                else {
                    throw TestBedError.pushVerificationFailed(
                        reference: reference, reason: "the served index has no entry for \(built.platform)")
                }
                let childBytes = try await Skopeo.inspectRaw(
                    "docker://\(registry.hostPort)/\(repository)@\(childDigest)", credentials: credentials, certDirectory: certDirectory)
                guard sha256Digest(childBytes) == childDigest else {
                    throw TestBedError.pushVerificationFailed(
                        reference: reference, reason: "child manifest bytes hash to \(sha256Digest(childBytes)), index says \(childDigest)")
                }
                pushed.append(try describe(childBytes, built: built, reference: reference))
            }
        } else {
            pushed.append(try describe(topBytes, built: image.manifests[0], reference: reference))
        }

        let expectedTopType: String
        switch (format, isIndex) {
        case (.oci, true): expectedTopType = TestMediaTypes.ociIndex
        case (.oci, false): expectedTopType = TestMediaTypes.ociManifest
        case (.dockerSchema2, true): expectedTopType = TestMediaTypes.dockerManifestList
        case (.dockerSchema2, false): expectedTopType = TestMediaTypes.dockerManifest
        }
        guard topMediaType == expectedTopType else {
            throw TestBedError.pushVerificationFailed(
                reference: reference, reason: "expected a \(expectedTopType) after the push, the registry serves \(topMediaType)")
        }
        return PushedImage(
            hostPort: registry.hostPort, repository: repository, tag: tag, format: format,
            digest: sha256Digest(topBytes), mediaType: topMediaType, manifestBytes: topBytes, isIndex: isIndex,
            manifests: pushed)
    }

    /// Parses a served single-platform manifest and checks it against the built one.
    private func describe(_ bytes: Data, built: TestManifest, reference: String) throws -> PushedManifest {
        let object = try parseJSONObject(bytes, reference: reference)
        let config = object["config"] as? [String: Any] ?? [:]
        let layers = object["layers"] as? [[String: Any]] ?? []
        let configDigest = config["digest"] as? String ?? ""
        let layerDigests = layers.compactMap { $0["digest"] as? String }
        guard configDigest == built.configDigest else {
            throw TestBedError.pushVerificationFailed(
                reference: reference, reason: "\(built.platform): config digest \(configDigest) differs from the built \(built.configDigest)")
        }
        guard layerDigests == built.layers.map(\.digest) else {
            throw TestBedError.pushVerificationFailed(
                reference: reference, reason: "\(built.platform): layer digests \(layerDigests) differ from the built \(built.layers.map(\.digest))")
        }
        return PushedManifest(
            platform: built.platform, digest: sha256Digest(bytes), mediaType: object["mediaType"] as? String ?? "",
            bytes: bytes, configDigest: configDigest, configSize: config["size"] as? Int ?? built.configSize,
            configMediaType: config["mediaType"] as? String ?? "",
            layerDigests: layerDigests, layerMediaTypes: layers.compactMap { $0["mediaType"] as? String },
            layers: built.layers)
    }

    private func parseJSONObject(_ data: Data, reference: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestBedError.pushVerificationFailed(
                reference: reference, reason: "the served manifest is not a JSON object: \(textTail(data, maxLines: 5, maxBytes: 300))")
        }
        return object
    }
}

extension TestRegistry {
    /// Pushes `image` here; see ``TestImageBuilder/push(_:to:repository:tag:format:credentials:)``.
    ///
    /// - Parameters:
    ///   - tag: defaults to the image's own tag.
    ///   - credentials: `nil` means ``pushCredentials`` (for an anonymous push into an
    ///     authenticated registry use ``TestImageBuilder/push(_:to:repository:tag:format:credentials:)``).
    public func push(
        _ image: TestImage,
        repository: String,
        tag: String? = nil,
        format: PushFormat = .oci,
        credentials: (user: String, password: String)? = nil
    ) async throws -> PushedImage {
        try await TestImageBuilder().push(
            image, to: self, repository: repository, tag: tag ?? image.tag, format: format,
            credentials: credentials ?? pushCredentials)
    }
}
