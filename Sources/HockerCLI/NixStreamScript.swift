#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImagePull
import RegistryClient

/// What `nix/` builds as a streamed image (`stream = true`): a small
/// script of `export NAME='value'` lines — the archive's store paths,
/// digests and names — and `exec hocker nix-builder`, which writes the
/// archive to stdout. `hocker load -i SCRIPT` reads those lines instead of
/// running it: the image ID and names are known without reading a layer,
/// and the archive is assembled from the store paths only when the daemon
/// lacks the image.
enum NixStreamScript {
    /// The most a stream script holds; a larger file is an archive.
    static let maximumSize = 1 << 20

    /// The image the file at `path` streams, or nil when it is not a
    /// stream script (an archive, a FIFO). A directory that `fetchdocker`
    /// built is taken by the script or the archive in it.
    static func image(at path: String) throws -> (image: LocalImage, path: String)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        if status.st_mode & S_IFMT == S_IFDIR {
            return try image(at: path + "/compositeImage.sh")
        }
        guard status.st_mode & S_IFMT == S_IFREG, status.st_size <= maximumSize else { return nil }
        let bytes: Data
        do {
            bytes = try LocalFile.read(path)
        } catch {
            return nil
        }
        guard let attributes = attributes(of: String(decoding: bytes, as: UTF8.self)), attributes["hockerAction"] == "stream-archive" else {
            return nil
        }
        return (try BuilderAttributes(attributes).localImage(), path)
    }

    /// The variables a stream script exports, or nil when the text is not
    /// one: `#!/bin/sh`, then comments, `export NAME='value'` lines (a
    /// quote inside written `'\''`) and the `exec` line.
    static func attributes(of text: String) -> [String: String]? {
        guard text.hasPrefix("#!/bin/sh\n") else { return nil }
        var attributes: [String: String] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            guard line.hasPrefix("export ") else { continue }
            let assignment = line.dropFirst("export ".count)
            guard let equals = assignment.firstIndex(of: "=") else { return nil }
            guard let value = unquoted(assignment[assignment.index(after: equals)...]) else { return nil }
            attributes[String(assignment[..<equals])] = value
        }
        return attributes
    }

    /// A value as sh reads `'…'` pieces joined by `\'`; nil for anything else.
    static func unquoted(_ text: Substring) -> String? {
        var value = ""
        var rest = text
        while let first = rest.first {
            if first == "\\", rest.dropFirst().first == "'" {
                value += "'"
                rest = rest.dropFirst(2)
                continue
            }
            guard first == "'", let close = rest.dropFirst().firstIndex(of: "'") else { return nil }
            value += rest[rest.index(after: rest.startIndex)..<close]
            rest = rest[rest.index(after: close)...]
        }
        return value
    }
}
