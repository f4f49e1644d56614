import Foundation

/// An OCI image layout on disk, read and extended by hand: for documents
/// the image builder does not make (an index whose entries name no
/// platform, an empty index, a config without `rootfs`) and for other
/// projects' layouts pushed as they are.
public struct OCILayoutDirectory: Sendable {
    /// The layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`).
    public var path: String

    public init(path: String) {
        self.path = path
    }

    /// One tagged entry of `index.json`.
    public struct Tagged: Sendable, Hashable {
        /// `org.opencontainers.image.ref.name`.
        public var tag: String
        public var digest: String
        public var mediaType: String
        public var size: Int
    }

    /// The entries of `index.json` that carry a tag, in its order.
    public func tagged() throws -> [Tagged] {
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/index.json"))) as? [String: Any]
        return (object?["manifests"] as? [[String: Any]] ?? []).compactMap { entry in
            guard let tag = (entry["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"],
                let digest = entry["digest"] as? String, let mediaType = entry["mediaType"] as? String, let size = entry["size"] as? Int
            else { return nil }
            return Tagged(tag: tag, digest: digest, mediaType: mediaType, size: size)
        }
    }

    /// The bytes of blob `digest` (`sha256:<hex>`).
    public func blob(_ digest: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path + "/blobs/sha256/" + digest.dropFirst("sha256:".count)))
    }

    /// Writes `bytes` as a blob; returns its digest.
    @discardableResult
    public func addBlob(_ bytes: Data) throws -> String {
        let digest = sha256Digest(bytes)
        try bytes.write(to: URL(fileURLWithPath: path + "/blobs/sha256/" + digest.dropFirst("sha256:".count)))
        return digest
    }

    /// Writes `json` as a manifest blob and tags it `tag` in `index.json`; returns its digest.
    @discardableResult
    public func addManifest(_ json: String, mediaType: String, tag: String) throws -> String {
        let bytes = Data(json.utf8)
        let digest = try addBlob(bytes)
        let indexURL = URL(fileURLWithPath: path + "/index.json")
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as? [String: Any] ?? ["schemaVersion": 2]
        var manifests = index["manifests"] as? [[String: Any]] ?? []
        manifests.append([
            "mediaType": mediaType, "digest": digest, "size": bytes.count, "annotations": ["org.opencontainers.image.ref.name": tag],
        ])
        index["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
        return digest
    }

    /// Copies the layout to a new temporary directory (skopeo may write beside what it reads).
    public func copy() throws -> OCILayoutDirectory {
        let target = try makeTemporaryDirectory(prefix: "hocker-layout")
        try FileManager.default.removeItem(atPath: target)
        try FileManager.default.copyItem(atPath: path, toPath: target)
        return OCILayoutDirectory(path: target)
    }
}

extension TestRegistry {
    /// Pushes the tagged entries of `layout` here as `repository:TAG`,
    /// unchanged: each with `skopeo copy --preserve-digests --all`; those
    /// skopeo cannot keep byte for byte (skopeo 1.9 re-encodes an index
    /// whose entries carry `artifactType`, and refuses one that lists
    /// another index) then with a `PUT` of their bytes, as any client pushes
    /// a manifest, once everything they name is here. Every tag must then
    /// be served with the layout's digest.
    ///
    /// - Returns: the tags pushed with a `PUT`, with skopeo's error for each.
    @discardableResult
    public func pushUnchanged(_ layout: OCILayoutDirectory, repository: String) async throws -> [(tag: String, skopeo: String)] {
        var put: [(tag: String, skopeo: String)] = []
        let tagged = try layout.tagged()
        for entry in tagged {
            do {
                try await Skopeo.copy(
                    "oci:\(layout.path):\(entry.tag)", "docker://\(hostPort)/\(repository):\(entry.tag)", extraArguments: ["--preserve-digests", "--all"])
            } catch {
                put.append((entry.tag, String(describing: error)))
            }
        }
        for (tag, skopeoError) in put {
            guard let entry = tagged.first(where: { $0.tag == tag }) else { continue }
            let response = try await TestHTTP.request(
                "PUT", "\(baseURL)/v2/\(repository)/manifests/\(tag)", headers: [("Content-Type", entry.mediaType)], body: try layout.blob(entry.digest))
            guard response.status == 201 else {
                throw TestBedError.pushVerificationFailed(
                    reference: "\(hostPort)/\(repository):\(tag)", reason: "skopeo failed (\(skopeoError)) and PUT answered \(response.status): \(response.bodyText)")
            }
        }
        for entry in tagged {
            let served = try await Skopeo.inspectRaw("docker://\(hostPort)/\(repository):\(entry.tag)")
            guard sha256Digest(served) == entry.digest else {
                throw TestBedError.pushVerificationFailed(
                    reference: "\(hostPort)/\(repository):\(entry.tag)", reason: "served as \(sha256Digest(served)), the layout has \(entry.digest)")
            }
        }
        return put
    }
}
