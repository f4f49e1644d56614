import ArgumentParser
import struct Crypto.SHA256
import Foundation
import ImageArchive
import ImageReference
import RegistryClient
import SystemPackage

/// `hocker nix-builder`: the builder of every derivation in `nix/`. Nix runs
/// it with the derivation's attributes in the environment (no shell, no
/// nixpkgs); `hockerAction` says what to build into `$out`:
///
/// - `fetch-blob`: blob `digest` of `repository` at `registry` (a layer, or
///   a config by digest) — a fixed-output derivation;
/// - `fetch-config`: the config of `repository`:`tag` (for `platform`, else
///   the build machine's), as `hocker-config` fetches it;
/// - `docker-archive`: a docker-archive file of `configPath` and
///   `layerPaths` (store paths; `configDigest`, `layerDigests`,
///   `configMediaType`, `layerMediaTypes` are checked or used when set),
///   tagged `finalImageName:finalImageTag` (default: the registry's
///   familiar name for `repository`, and `tag`);
/// - `fetchdocker`: a directory with that archive as `image.tar` and
///   `compositeImage.sh`, which writes it to stdout for `docker load`.
///
/// Credentials come as for every command: `DOCKER_TOKEN`, `DOCKER_USER` /
/// `DOCKER_PASS`, `REGISTRY_AUTH_FILE` (passed as impure variables).
/// The assembly is deterministic: the same inputs give the same bytes.
struct NixBuilderCommand: HockerCommand {
    static let configuration = CommandConfiguration(
        commandName: "nix-builder",
        abstract: "Build a derivation of hocker's Nix library (run by Nix, reading the derivation's attributes).",
        shouldDisplay: false)

    func run(in context: CommandContext) async throws {
        let attributes = BuilderAttributes(context.environment)
        let action = try attributes.require("hockerAction")
        let out = try attributes.require("out")
        switch action {
        case "fetch-blob":
            let digest = try attributes.require("digest")
            log("fetching blob \(digest) of \(try attributes.require("repository")) into \(out)")
            let command = try LayerCommand.parse(try attributes.registryArguments(out: out) + ["--layer", digest, try attributes.require("repository")])
            try await command.run(in: context)
        case "fetch-config":
            let tag = try attributes.require("tag")
            log("fetching the config of \(try attributes.require("repository")):\(tag) into \(out)")
            var arguments = try attributes.registryArguments(out: out)
            if let platform = attributes["platform"] { arguments += ["--platform", platform] }
            let command = try ConfigCommand.parse(arguments + [try attributes.require("repository"), tag])
            try await command.run(in: context)
        case "docker-archive":
            try assemble(attributes, into: out, context: context)
        case "fetchdocker":
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
            } catch {
                throw CommandError.output(path: out, detail: (error as NSError).localizedDescription)
            }
            let archive = out + "/image.tar"
            try assemble(attributes, into: archive, context: context)
            let script = """
                #!/bin/sh
                # Writes the docker-archive of \(attributes["repository"] ?? "the image") to stdout:
                #   \(out)/compositeImage.sh | docker load
                exec cat '\(archive)'

                """
            try writeOutput(Data(script.utf8), out: out + "/compositeImage.sh", context: context)
            guard chmod(out + "/compositeImage.sh", 0o555) == 0 else {
                throw CommandError.output(path: out + "/compositeImage.sh", detail: String(cString: strerror(errno)))
            }
        default:
            throw CommandError.usage("hockerAction '\(action)' is none of fetch-blob, fetch-config, docker-archive, fetchdocker")
        }
    }

    private func log(_ message: String) {
        FileHandle.standardError.write(Data("hocker: \(message)\n".utf8))
    }

    /// Writes a docker-archive of the config and layer files to `path`.
    private func assemble(_ attributes: BuilderAttributes, into path: String, context: CommandContext) throws {
        let configPath = try attributes.require("configPath")
        let layerPaths = attributes.list("layerPaths")
        let layerDigests = attributes.list("layerDigests")
        let layerMediaTypes = attributes.list("layerMediaTypes")
        guard layerDigests.isEmpty || layerDigests.count == layerPaths.count else {
            throw CommandError.usage("layerDigests has \(layerDigests.count) entries for \(layerPaths.count) layerPaths")
        }
        guard layerMediaTypes.isEmpty || layerMediaTypes.count == layerPaths.count else {
            throw CommandError.usage("layerMediaTypes has \(layerMediaTypes.count) entries for \(layerPaths.count) layerPaths")
        }
        // Every path given for a digest: the first is copied in, any other only checked.
        var files: [Digest: [String]] = [:]
        func blob(_ file: String, expected: String?, mediaType: String?, isConfig: Bool) throws -> ArchiveBlob {
            // With the digest given, the file is read once: checked while it is copied in.
            let (digest, size, magic) = try Self.inspect(file, digest: try expected.map { try Digest(parsing: $0, allowBareHex: true) })
            if !(files[digest] ?? []).contains(file) { files[digest, default: []].append(file) }
            return ArchiveBlob(digest: digest, size: size, mediaType: mediaType ?? (isConfig ? MediaType.dockerConfig : Self.layerMediaType(magic)))
        }
        let config = try blob(configPath, expected: attributes["configDigest"], mediaType: attributes["configMediaType"], isConfig: true)
        var layers: [ArchiveBlob] = []
        for (index, layerPath) in layerPaths.enumerated() {
            layers.append(try blob(
                layerPath, expected: layerDigests.isEmpty ? nil : layerDigests[index],
                mediaType: layerMediaTypes.isEmpty ? nil : layerMediaTypes[index], isConfig: false))
        }
        let repoTags = try attributes.repoTags()
        log("assembling \(path) from \(layers.count) layers\(repoTags.isEmpty ? "" : " as \(repoTags.joined(separator: ", "))")")
        let layout = try DockerArchiveLayout(config: config, layers: layers, repoTags: repoTags)
        let file = try OutputFile(target: path, registry: context.temporaryPaths)
        do {
            try layout.writeSkeleton(to: file.descriptor)
            for entry in layout.blobEntries {
                guard let sources = files[entry.blob.digest], let first = sources.first else { continue }
                try Self.copy(first, blob: entry.blob, into: file.descriptor, at: entry.offset)
                for other in sources.dropFirst() {
                    let (digest, _, _) = try Self.inspect(other)
                    guard digest == entry.blob.digest else { throw Self.mismatch(other, actual: digest, expected: entry.blob.digest) }
                }
            }
        } catch {
            file.discard()
            throw error
        }
        try file.commit()
    }

    /// The digest, size and first bytes of a file. With `digest` given, the
    /// file is not read through: it is checked later, while it is copied.
    static func inspect(_ path: String, digest given: Digest? = nil) throws -> (Digest, Int64, [UInt8]) {
        do {
            let file = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
            defer { try? file.close() }
            if let given {
                var magic = [UInt8](repeating: 0, count: 4)
                let read = try magic.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: 0, into: $0) }
                return (given, try file.seek(offset: 0, from: .end), Array(magic.prefix(read)))
            }
            var hasher = SHA256()
            var magic: [UInt8] = []
            let size = try FileChunks.forEach(in: file) { piece, _ in
                if magic.count < 4 { magic += piece.prefix(4 - magic.count) }
                hasher.update(bufferPointer: piece)
            }
            return (Digest.sha256(bytes: hasher.finalize()), size, magic)
        } catch {
            throw CommandError.output(path: path, detail: "cannot read it: \(error)")
        }
    }

    /// The layer media type its first bytes show: gzip, zstd, else a plain tar.
    static func layerMediaType(_ magic: [UInt8]) -> String {
        if magic.starts(with: [0x1f, 0x8b]) { return MediaType.dockerLayerGzip }
        if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return MediaType.ociLayerZstd }
        return MediaType.ociLayer
    }

    /// Copies blob `blob` from the file at `path` into `target` at `offset`,
    /// checking on the way that the file is that blob.
    static func copy(_ path: String, blob: ArchiveBlob, into target: FileDescriptor, at offset: Int64) throws {
        let copied: (digest: Digest, size: Int64)
        do {
            let source = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
            defer { try? source.close() }
            copied = try FileChunks.copyHashing(from: source, count: blob.size, into: target, at: offset, algorithm: blob.digest.algorithm)
        } catch {
            throw CommandError.output(path: path, detail: "cannot copy it into the archive: \(error)")
        }
        guard copied.digest == blob.digest else { throw mismatch(path, actual: copied.digest, expected: blob.digest) }
    }

    static func mismatch(_ path: String, actual: Digest, expected: Digest) -> CommandError {
        .output(path: path, detail: "its digest is \(actual), the expression says \(expected)")
    }
}

/// A derivation's attributes as the builder's environment holds them.
struct BuilderAttributes {
    let environment: [String: String]

    init(_ environment: [String: String]) { self.environment = environment }

    /// The attribute, or nil when unset or empty.
    subscript(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func require(_ name: String) throws -> String {
        guard let value = self[name] else {
            throw CommandError.usage("the derivation has no '\(name)' attribute; hocker nix-builder runs as the builder of nix/'s derivations")
        }
        return value
    }

    /// A list attribute (Nix passes lists space-separated).
    func list(_ name: String) -> [String] {
        (self[name] ?? "").split(separator: " ").map(String.init)
    }

    /// The flags every fetch takes.
    func registryArguments(out: String) throws -> [String] {
        var arguments = ["--out=\(out)", "--registry", try require("registry"), "--quiet"]
        if self["insecure"] == "1" { arguments.append("--insecure") }
        return arguments
    }

    /// `finalImageName:finalImageTag`, defaulting to the registry's familiar
    /// name for the repository and `tag`; none when there is no tag (or the
    /// "tag" is a digest).
    func repoTags() throws -> [String] {
        let tag = self["finalImageTag"] ?? self["tag"]
        guard let tag, (try? ImageReference.validateTag(tag)) != nil else { return [] }
        if let name = self["finalImageName"] { return ["\(name):\(tag)"] }
        let endpoint = try RegistryEndpoint(parsing: try require("registry"), insecure: self["insecure"] == "1")
        let reference = try ImageReference(registry: endpoint.name, repository: try require("repository"))
        return ["\(reference.familiarName):\(tag)"]
    }
}
