import Foundation
@testable import ImagePull
import Testing

/// Outputs are written beside their target and renamed onto it only when complete.
@Suite("Atomic outputs")
struct OutputFileTests {
    static func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-output-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aCommittedFileReplacesTheTarget() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = "\(directory)/out.tar"
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        let paths = TemporaryPaths()
        let file = try OutputFile(target: target, registry: paths)
        _ = try Data("new".utf8).withUnsafeBytes { try file.descriptor.writeAll(toAbsoluteOffset: 0, $0) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("old".utf8))
        try file.commit()
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("new".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["out.tar"])
    }

    @Test func aDiscardedFileLeavesTheTargetAlone() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let target = "\(directory)/out.tar"
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        let file = try OutputFile(target: target, registry: TemporaryPaths())
        _ = try Data("partial".utf8).withUnsafeBytes { try file.descriptor.writeAll(toAbsoluteOffset: 0, $0) }
        file.discard()
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["out.tar"])
    }

    /// What a signal handler does: every temporary file of the run goes.
    @Test func temporaryPathsRemovesWhatIsUnfinished() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let paths = TemporaryPaths()
        let file = try OutputFile(target: "\(directory)/a.tar", registry: paths)
        let layout = try OutputDirectory(target: "\(directory)/layout", registry: paths)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).count == 2)
        paths.removeAll()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        withExtendedLifetime((file, layout)) {}
    }

    @Test func aMissingDirectoryIsNamed() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect {
            _ = try OutputFile(target: "\(directory)/missing/out.tar", registry: TemporaryPaths())
        } throws: { error in
            (error as? OutputError)?.message.contains("\(directory)/missing") == true
        }
    }
}
