import Foundation
import ImageReference
import ImageTrust

/// The files under Fixtures/ (containers/image's signature fixtures; see the README there).
enum FixtureFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    struct Missing: Error, CustomStringConvertible {
        var name: String
        var description: String { "fixture \(name) is missing" }
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else { throw Missing(name: name) }
        return Array(data)
    }

    static func exists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path)
    }

    /// The signatures of a `dir-img-*` directory (`signature-1`, `-2`, … until one is missing), or a single signature file.
    static func signatures(_ name: String) throws -> [SignatureEvidence] {
        guard name.hasPrefix("dir-img-") else {
            return [SignatureEvidence(location: .lookaside(name), lookasideBlob: try bytes(name))]
        }
        var found: [SignatureEvidence] = []
        var index = 1
        while exists("\(name)/signature-\(index)") {
            found.append(SignatureEvidence(location: .lookaside("\(name)/signature-\(index)"), lookasideBlob: try bytes("\(name)/signature-\(index)")))
            index += 1
        }
        return found
    }

    /// The key files a policy names, read from Fixtures/.
    static func keyFiles(for policy: ApplicablePolicy) throws -> [String: [UInt8]] {
        Dictionary(uniqueKeysWithValues: try policy.filesToRead.map { ($0, try bytes($0)) })
    }
}
