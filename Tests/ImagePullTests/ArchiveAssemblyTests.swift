import Foundation
import ImageArchive
@testable import ImagePull
import ImageReference
import ImageSpec
import RegistryTestBed
import Testing

/// The docker-archive nix/'s assembling derivation writes, from files on
/// disk: what goes in, what is refused, and that nothing is left behind.
@Suite("Docker-archive assembly from local files")
struct ArchiveAssemblyTests {
    /// A directory with a config and three layers (gzip, zstd and plain tar by their first bytes).
    struct Inputs {
        let directory: String
        let config: LocalBlob
        let layers: [LocalBlob]
        let bytes: [String: Data]

        init() throws {
            let directory = try Self.scratch()
            var bytes: [String: Data] = [:]
            func file(_ name: String, _ data: Data) throws -> LocalBlob {
                let path = "\(directory)/\(name)"
                try data.write(to: URL(fileURLWithPath: path))
                bytes[path] = data
                return LocalBlob(path: path, digest: try Digest(parsing: sha256Digest(data)))
            }
            let config = try file("config.json", Data(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.utf8))
            let layers = [
                try file("gzip", Data([0x1f, 0x8b, 8, 0] + Array(repeating: 7, count: 3000))),
                try file("zstd", Data([0x28, 0xb5, 0x2f, 0xfd] + Array(repeating: 9, count: 600))),
                try file("plain", Data(Array(repeating: 0x41, count: 513))),
            ]
            self.directory = directory
            self.config = config
            self.layers = layers
            self.bytes = bytes
        }

        static func scratch() throws -> String {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-assembly-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            return path
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// The entries of a tar file: name and data, in order.
    static func entries(ofTar path: String) throws -> [(name: String, data: Data)] {
        let tar = try Data(contentsOf: URL(fileURLWithPath: path))
        var entries: [(String, Data)] = []
        var offset = 0
        while offset + 512 <= tar.count {
            let header = tar[offset..<offset + 512]
            if header.allSatisfy({ $0 == 0 }) { break }
            let name = String(decoding: header.prefix(100).prefix { $0 != 0 }, as: UTF8.self)
            let sizeField = String(decoding: header[(offset + 124)..<(offset + 135)], as: UTF8.self)
            let size = Int(sizeField, radix: 8) ?? -1
            entries.append((name, tar[(offset + 512)..<(offset + 512 + size)]))
            offset += 512 + (size + 511) / 512 * 512
        }
        return entries
    }

    @Test func writesTheBlobsUnderTheirDigests() throws {
        let inputs = try Inputs()
        defer { inputs.remove() }
        let out = "\(inputs.directory)/out/image.tar"
        try FileManager.default.createDirectory(atPath: "\(inputs.directory)/out", withIntermediateDirectories: false)
        try ArchiveAssembly.write(LocalImage(config: inputs.config, layers: inputs.layers, repoTags: ["127.0.0.1:5000/team/app:v1"]), to: out, temporaryPaths: TemporaryPaths())
        let entries = try Self.entries(ofTar: out)
        let hex = { (blob: LocalBlob) in blob.digest!.hex }
        #expect(entries.map(\.name) == [
            "manifest.json", "repositories", "\(hex(inputs.config)).json",
            "\(hex(inputs.layers[0])).tar.gz", "\(hex(inputs.layers[1])).tar.zst", "\(hex(inputs.layers[2])).tar",
        ])
        for (entry, blob) in zip(entries.dropFirst(2), [inputs.config] + inputs.layers) {
            #expect(entry.data == inputs.bytes[blob.path])
        }
        let manifest = try #require(try JSONSerialization.jsonObject(with: entries[0].data) as? [[String: Any]])
        #expect(manifest.first?["RepoTags"] as? [String] == ["127.0.0.1:5000/team/app:v1"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(inputs.directory)/out") == ["image.tar"])
    }

    @Test func theSameInputsGiveTheSameBytes() throws {
        let inputs = try Inputs()
        defer { inputs.remove() }
        // Without digests, the files' own are computed; the bytes must not differ.
        let undigested = inputs.layers.map { LocalBlob(path: $0.path) }
        for (name, layers) in [("a.tar", inputs.layers), ("b.tar", undigested)] {
            try ArchiveAssembly.write(LocalImage(config: inputs.config, layers: layers, repoTags: ["x/y:z"]), to: "\(inputs.directory)/\(name)", temporaryPaths: TemporaryPaths())
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(inputs.directory)/a.tar")) == Data(contentsOf: URL(fileURLWithPath: "\(inputs.directory)/b.tar")))
    }

    /// Files Nix has checked are copied in the kernel, not read: the archive is the same.
    @Test func verifiedInputsGiveTheSameArchive() throws {
        let inputs = try Inputs()
        defer { inputs.remove() }
        let trusted = inputs.layers.map { LocalBlob(path: $0.path, digest: $0.digest, verified: true) }
        var config = inputs.config
        config.verified = true
        try ArchiveAssembly.write(LocalImage(config: inputs.config, layers: inputs.layers, repoTags: ["x/y:z"]), to: "\(inputs.directory)/a.tar", temporaryPaths: TemporaryPaths())
        try ArchiveAssembly.write(LocalImage(config: config, layers: trusted, repoTags: ["x/y:z"]), to: "\(inputs.directory)/b.tar", temporaryPaths: TemporaryPaths())
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(inputs.directory)/a.tar")) == Data(contentsOf: URL(fileURLWithPath: "\(inputs.directory)/b.tar")))
    }

    enum Claim: String, Sendable, CaseIterable {
        /// The second layer claims the first layer's digest.
        case anotherLayers
        /// The second layer claims a digest no file has.
        case unknown
        /// The config file is missing.
        case missingFile
    }

    @Test(arguments: Claim.allCases)
    func aFileThatIsNotTheBlobIsRefused(_ claim: Claim) throws {
        let inputs = try Inputs()
        defer { inputs.remove() }
        var layers = inputs.layers
        var config = inputs.config
        let out = "\(inputs.directory)/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        switch claim {
        case .anotherLayers: layers[1].digest = layers[0].digest
        case .unknown: layers[1].digest = try Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
        case .missingFile: config.path += ".gone"
        }
        #expect {
            try ArchiveAssembly.write(LocalImage(config: config, layers: layers, repoTags: []), to: "\(out)/image.tar", temporaryPaths: TemporaryPaths())
        } throws: { error in
            guard let error = error as? AssemblyError else { return false }
            switch (claim, error) {
            case (.anotherLayers, .digestMismatch(let path, let actual, let expected)), (.unknown, .digestMismatch(let path, let actual, let expected)):
                return path == layers[1].path && actual == inputs.layers[1].digest && expected == layers[1].digest
            case (.missingFile, .unreadable(let path, _)):
                return path == config.path && error.message.contains(config.path)
            default:
                return false
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }
}
