import Crypto
import Foundation

/// Builds OCI image layouts with real, deterministic layers.
///
/// Each layer is a tar made by the `tar` CLI (`--sort=name --mtime=@0 --owner=0
/// --group=0 --numeric-owner`) of a few files whose content is a deterministic
/// pseudo-random stream (ChaCha20 keystream keyed by SHA-256 of the seed), gzipped with
/// `gzip -n`. The same inputs always give the same digests. Content is streamed to
/// disk, so large layers do not need to fit in memory.
public struct TestImageBuilder: Sendable {
    /// Parent directory for new layouts; `nil` means a fresh temporary directory per image.
    public var directory: String?

    /// - Parameter directory: where layouts are created (each in its own subdirectory);
    ///   `nil` uses the system temporary directory.
    public init(directory: String? = nil) {
        self.directory = directory
    }

    /// Builds an image with one layer per spec, for each platform.
    ///
    /// - Parameters:
    ///   - tag: the tag recorded in the layout's `index.json`.
    ///   - platforms: one platform gives a plain manifest (unless `forceIndex`); several
    ///     give an OCI image index with one manifest each.
    ///   - layers: the layers, bottom first. Unless a spec is `sharedAcrossPlatforms`, the
    ///     platform is mixed into its seed so each platform's layers differ.
    ///   - forceIndex: wrap even a single platform in an image index.
    ///   - labels: `config.Labels` of every platform's config.
    public func build(
        tag: String = "latest",
        platforms: [TestPlatform] = [.linuxAMD64],
        layers: [TestLayerSpec],
        forceIndex: Bool = false,
        labels: [String: String] = [:]
    ) async throws -> TestImage {
        guard !platforms.isEmpty else { throw TestBedError.invalidImageSpec(reason: "at least one platform is required") }
        guard Set(platforms).count == platforms.count else {
            throw TestBedError.invalidImageSpec(reason: "platforms must be distinct, got \(platforms)")
        }
        guard !tag.isEmpty, !tag.contains(":"), !tag.contains("/") else {
            throw TestBedError.invalidImageSpec(reason: "tag '\(tag)' must be non-empty without ':' or '/'")
        }
        for spec in layers where spec.approximateSize < 0 || spec.fileCount < 1 {
            throw TestBedError.invalidImageSpec(reason: "layer '\(spec.seed)': size must be >= 0 and fileCount >= 1")
        }
        _ = try TestTools.require("tar")
        _ = try TestTools.require("gzip")

        let layoutPath: String
        if let directory {
            layoutPath = (directory as NSString).appendingPathComponent("oci-\(UUID().uuidString.prefix(8).lowercased())")
            do {
                try FileManager.default.createDirectory(atPath: layoutPath, withIntermediateDirectories: true)
            } catch {
                throw TestBedError.fileSystem(path: layoutPath, reason: "cannot create directory: \(error)")
            }
        } else {
            layoutPath = try makeTemporaryDirectory(prefix: "hocker-oci")
        }
        do {
            return try await buildLayout(at: layoutPath, tag: tag, platforms: platforms, layers: layers, forceIndex: forceIndex, labels: labels)
        } catch {
            try? FileManager.default.removeItem(atPath: layoutPath)
            throw error
        }
    }

    private func buildLayout(
        at layoutPath: String, tag: String, platforms: [TestPlatform], layers: [TestLayerSpec], forceIndex: Bool, labels: [String: String]
    ) async throws -> TestImage {
        let blobsPath = "\(layoutPath)/blobs/sha256"
        let stagingPath = "\(layoutPath)/.staging"
        do {
            try FileManager.default.createDirectory(atPath: blobsPath, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: stagingPath, withIntermediateDirectories: true)
        } catch {
            throw TestBedError.fileSystem(path: layoutPath, reason: "cannot create the layout directories: \(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: stagingPath) }

        var manifests: [TestManifest] = []
        var built: [String: TestLayer] = [:]  // effective seed -> layer, reuse for shared layers
        for platform in platforms {
            var platformLayers: [TestLayer] = []
            for spec in layers {
                let effectiveSeed = spec.sharedAcrossPlatforms ? spec.seed : "\(spec.seed)@\(platform)"
                let key = "\(effectiveSeed)#\(spec.approximateSize)#\(spec.fileCount)"
                if let existing = built[key] {
                    platformLayers.append(existing)
                    continue
                }
                let layer = try await makeLayer(
                    seed: effectiveSeed, size: spec.approximateSize, fileCount: spec.fileCount,
                    stagingPath: stagingPath, blobsPath: blobsPath)
                built[key] = layer
                platformLayers.append(layer)
            }

            var runConfig: [String: Any] = ["Cmd": ["/bin/sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]]
            if !labels.isEmpty { runConfig["Labels"] = labels }
            var config: [String: Any] = [
                "architecture": platform.architecture,
                "os": platform.os,
                "created": "1970-01-01T00:00:00Z",
                "rootfs": ["type": "layers", "diff_ids": platformLayers.map(\.diffID)],
                "config": runConfig,
            ]
            if let variant = platform.variant { config["variant"] = variant }
            let configBytes = try canonicalJSON(config)
            let configDigest = try storeBlob(configBytes, in: blobsPath)

            let manifest: [String: Any] = [
                "schemaVersion": 2,
                "mediaType": TestMediaTypes.ociManifest,
                "config": ["mediaType": TestMediaTypes.ociConfig, "digest": configDigest, "size": configBytes.count],
                "layers": platformLayers.map { ["mediaType": $0.mediaType, "digest": $0.digest, "size": $0.size] },
            ]
            let manifestBytes = try canonicalJSON(manifest)
            let manifestDigest = try storeBlob(manifestBytes, in: blobsPath)
            manifests.append(
                TestManifest(
                    platform: platform, manifestDigest: manifestDigest, manifestBytes: manifestBytes,
                    manifestMediaType: TestMediaTypes.ociManifest, configDigest: configDigest, configBytes: configBytes,
                    layers: platformLayers))
        }

        var indexDigest: String?
        var indexBytes: Data?
        let top: [String: Any]
        if platforms.count > 1 || forceIndex {
            let index: [String: Any] = [
                "schemaVersion": 2,
                "mediaType": TestMediaTypes.ociIndex,
                "manifests": manifests.map { entry -> [String: Any] in
                    var platform: [String: Any] = ["os": entry.platform.os, "architecture": entry.platform.architecture]
                    if let variant = entry.platform.variant { platform["variant"] = variant }
                    return [
                        "mediaType": TestMediaTypes.ociManifest, "digest": entry.manifestDigest,
                        "size": entry.manifestSize, "platform": platform,
                    ]
                },
            ]
            let bytes = try canonicalJSON(index)
            let digest = try storeBlob(bytes, in: blobsPath)
            indexDigest = digest
            indexBytes = bytes
            top = ["mediaType": TestMediaTypes.ociIndex, "digest": digest, "size": bytes.count]
        } else {
            top = [
                "mediaType": TestMediaTypes.ociManifest, "digest": manifests[0].manifestDigest,
                "size": manifests[0].manifestSize,
            ]
        }
        var topEntry = top
        topEntry["annotations"] = [TestMediaTypes.refNameAnnotation: tag]
        let layoutIndex: [String: Any] = ["schemaVersion": 2, "manifests": [topEntry]]
        try writeData("\(layoutPath)/index.json", try canonicalJSON(layoutIndex))
        try writeFile("\(layoutPath)/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}")

        return TestImage(
            layoutPath: layoutPath, tag: tag, manifests: manifests, indexDigest: indexDigest, indexBytes: indexBytes)
    }

    /// Writes the layer's files, tars and gzips them, and moves the blob into place.
    private func makeLayer(
        seed: String, size: Int, fileCount: Int, stagingPath: String, blobsPath: String
    ) async throws -> TestLayer {
        let seedHex = hexString(SHA256.hash(data: Data(seed.utf8)))
        let work = "\(stagingPath)/\(seedHex.prefix(16))"
        let root = "\(work)/root"
        let top = "hocker-test-\(seedHex.prefix(12))"
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(atPath: "\(root)/\(top)/data", withIntermediateDirectories: true)
        } catch {
            throw TestBedError.fileSystem(path: root, reason: "cannot create the layer tree: \(error)")
        }
        defer { try? fileManager.removeItem(atPath: work) }

        try writeFile("\(root)/\(top)/seed.txt", "hocker test layer\nseed: \(seed)\nsize: \(size)\n")
        let dataFiles = max(1, fileCount)
        try await onThreadOfItsOwn {
            for index in 0..<dataFiles {
                let share = size / dataFiles + (index < size % dataFiles ? 1 : 0)
                try writePseudoRandomFile(
                    "\(root)/\(top)/data/file-\(index).bin", seed: "\(seed)/file-\(index)", count: share)
            }
        }
        for path in ["\(root)/\(top)", "\(root)/\(top)/data"] {
            try? fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }

        let tarPath = "\(work)/layer.tar"
        _ = try await runChecked(
            "tar",
            [
                "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner",
                "--mode=u+rw,go+r,go-w", "--format=gnu", "-C", root, "-cf", tarPath, top,
            ],
            timeout: .seconds(600))
        let (diffID, uncompressedSize) = try await onThreadOfItsOwn { try hashFile(tarPath) }
        _ = try await runChecked("gzip", ["-n", "-f", tarPath], timeout: .seconds(600))
        let gzipPath = tarPath + ".gz"
        let (digest, compressedSize) = try await onThreadOfItsOwn { try hashFile(gzipPath) }
        let destination = "\(blobsPath)/\(digest.dropFirst(7))"
        if fileManager.fileExists(atPath: destination) {
            try? fileManager.removeItem(atPath: gzipPath)
        } else {
            do {
                try fileManager.moveItem(atPath: gzipPath, toPath: destination)
            } catch {
                throw TestBedError.fileSystem(path: destination, reason: "cannot move the layer blob into place: \(error)")
            }
        }
        return TestLayer(
            digest: digest, size: compressedSize, diffID: diffID, uncompressedSize: uncompressedSize,
            mediaType: TestMediaTypes.ociLayerGzip)
    }
}

/// Writes `count` deterministic pseudo-random bytes derived from `seed` to `path`,
/// one MiB at a time: ChaCha20-Poly1305 encryption of zeros under key SHA-256(seed),
/// nonce = chunk counter; the ciphertext (keystream) is the content.
func writePseudoRandomFile(_ path: String, seed: String, count: Int) throws {
    guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o644]),
        let handle = FileHandle(forWritingAtPath: path)
    else {
        throw TestBedError.fileSystem(path: path, reason: "cannot create the file")
    }
    defer { try? handle.close() }
    let key = SymmetricKey(data: SHA256.hash(data: Data(seed.utf8)))
    let chunkSize = 1 << 20
    let zeros = Data(count: chunkSize)
    var remaining = count
    var counter: UInt64 = 0
    while remaining > 0 {
        var nonceBytes = Data(count: 4)
        withUnsafeBytes(of: counter.bigEndian) { nonceBytes.append(contentsOf: $0) }
        let nonce = try ChaChaPoly.Nonce(data: nonceBytes)
        let length = min(chunkSize, remaining)
        let sealed = try ChaChaPoly.seal(length == chunkSize ? zeros : zeros.prefix(length), using: key, nonce: nonce)
        do {
            try handle.write(contentsOf: sealed.ciphertext)
        } catch {
            throw TestBedError.fileSystem(path: path, reason: "write failed: \(error)")
        }
        remaining -= length
        counter += 1
    }
}

/// `sha256:<hex>` and size of the file at `path`, read in 1 MiB chunks.
func hashFile(_ path: String) throws(TestBedError) -> (digest: String, size: Int) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw .fileSystem(path: path, reason: "cannot open for reading")
    }
    defer { try? handle.close() }
    var hasher = SHA256()
    var size = 0
    while true {
        let chunk: Data?
        do {
            chunk = try handle.read(upToCount: 1 << 20)
        } catch {
            throw .fileSystem(path: path, reason: "read failed: \(error)")
        }
        guard let chunk, !chunk.isEmpty else { break }
        hasher.update(data: chunk)
        size += chunk.count
    }
    return ("sha256:" + hexString(hasher.finalize()), size)
}

/// `sha256:<hex>` of the file at `path`, read in 1 MiB chunks.
public func sha256Digest(file path: String) throws(TestBedError) -> String {
    try hashFile(path).digest
}

/// `sha256:<hex>` of `data`.
public func sha256Digest(_ data: Data) -> String {
    "sha256:" + hexString(SHA256.hash(data: data))
}

/// Lower-case hex of a digest.
func hexString<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// Stores `data` as a blob in `blobsPath` and returns its digest.
func storeBlob(_ data: Data, in blobsPath: String) throws(TestBedError) -> String {
    let digest = sha256Digest(data)
    try writeData("\(blobsPath)/\(digest.dropFirst(7))", data)
    return digest
}

/// Deterministic compact JSON (sorted keys, unescaped slashes).
func canonicalJSON(_ object: Any) throws(TestBedError) -> Data {
    do {
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    } catch {
        throw .invalidImageSpec(reason: "cannot serialise JSON: \(error)")
    }
}

/// Runs blocking `work` (writing or hashing tens of megabytes) on a thread of
/// its own: on the concurrency pool's few threads it would hold up every
/// other test's tasks, and the tests that time a deadline with them.
func onThreadOfItsOwn<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try work() }) }.start()
    }
}
