import Foundation
import ImagePull
import ImageReference
import RegistryTestBed
import Testing

/// Lock files written by the use cases against a registry in process.
enum InProcessLock {
    static func addition(_ registry: InProcessRegistry, _ repository: String, tag: String) throws -> LockWorkflow.Addition {
        let target = try ImageTarget(name: "\(registry.host)/\(repository):\(tag)", tag: nil, registry: nil, insecure: false)
        return LockWorkflow.Addition(endpoint: target.endpoint, image: target.reference, given: target.reference.description, platforms: .all)
    }

    static func withLock(_ body: (LockWorkflow) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-lock-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await body(LockWorkflow(path: directory + "/hocker.lock.json", temporaryPaths: TemporaryPaths()))
    }
}
