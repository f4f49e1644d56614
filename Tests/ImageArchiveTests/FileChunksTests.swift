import Foundation
import ImageArchive
import SystemPackage
import Testing

@Suite("File chunks")
struct FileChunksTests {
    /// Where `FileChunks.send` writes: a pipe through the kernel (sendfile),
    /// a regular file through a buffer, at its position or appended.
    enum Destination: String, CaseIterable, Sendable {
        case file = "a regular file"
        case appendingFile = "a file opened for appending"
        case pipe = "a pipe"
    }

    /// A source with a distinct byte at every offset, so a misplaced range shows.
    static let source: [UInt8] = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }

    @Test("send copies exactly the range, at the destination's position", arguments: Destination.allCases, [0..<300_000, 1..<2, 70_000..<250_001, 5..<5])
    func sendCopiesTheRange(_ destination: Destination, _ range: Range<Int64>) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-chunks-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sourcePath = "\(directory)/source"
        try Data(Self.source).write(to: URL(fileURLWithPath: sourcePath))
        let source = try FileDescriptor.open(sourcePath, .readOnly)
        defer { try? source.close() }
        let prefix = [UInt8]("already here\n".utf8)
        let expected = prefix + Self.source[Int(range.lowerBound)..<Int(range.upperBound)]

        switch destination {
        case .file, .appendingFile:
            let path = "\(directory)/out"
            try Data(prefix).write(to: URL(fileURLWithPath: path))
            let output = try FileDescriptor.open(path, .writeOnly, options: destination == .appendingFile ? [.append] : [])
            if destination == .file { _ = try output.seek(offset: Int64(prefix.count), from: .start) }
            try FileChunks.send(from: source, range: range, to: output)
            try output.close()
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
        case .pipe:
            let (reader, writer) = try FileDescriptor.pipe()
            // A reader on a thread of its own (not the cooperative pool, which blocking reads
            // would starve): more than a pipe's buffer goes through it.
            let received = ReceivedBytes()
            let thread = Thread {
                defer { try? reader.close() }
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while let count = try? buffer.withUnsafeMutableBytes({ try reader.read(into: $0) }), count > 0 {
                    received.append(buffer[0..<count])
                }
                received.finish()
            }
            thread.start()
            _ = try prefix.withUnsafeBytes { try writer.writeAll($0) }
            try FileChunks.send(from: source, range: range, to: writer)
            try writer.close()
            #expect(received.wait() == expected)
        }
    }

    @Test("a source shorter than the range is reported, not padded")
    func shortSourceIsTruncated() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hocker-chunks-\(UUID().uuidString)").path
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let source = try FileDescriptor.open(path, .readOnly)
        defer { try? source.close() }
        let null = try FileDescriptor.open("/dev/null", .writeOnly)
        defer { try? null.close() }
        #expect(throws: FileCopyError.self) { try FileChunks.send(from: source, range: 0..<10, to: null) }
    }
}

/// What a reader thread has read from a pipe, until it ends.
private final class ReceivedBytes: @unchecked Sendable {
    private let condition = NSCondition()
    private var bytes: [UInt8] = []
    private var ended = false

    func append(_ more: ArraySlice<UInt8>) {
        condition.withLock { bytes += more }
    }

    func finish() {
        condition.withLock {
            ended = true
            condition.broadcast()
        }
    }

    /// Blocks until the pipe has ended; everything read.
    func wait() -> [UInt8] {
        condition.withLock {
            while !ended { condition.wait() }
            return bytes
        }
    }
}
