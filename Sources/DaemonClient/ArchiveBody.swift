import struct NIOCore.ByteBuffer
import struct NIOCore.ByteBufferAllocator
import class NIOPosix.NIOThreadPool
import SystemPackage

/// The bytes of an archive sent to `/images/load`: parts of files and
/// whole pipes, read in order as the daemon takes them — never held in
/// memory. A file is read at its offsets (so one descriptor can be shared);
/// a pipe is read to its end, or for as many bytes as its writer said it
/// would write.
public struct ArchiveBody: Sendable {
    public enum Segment: Sendable {
        /// `length` bytes of a file from `offset`.
        case file(FileDescriptor, offset: Int64, length: Int64)
        /// A pipe or terminal, read to its end.
        case stream(FileDescriptor)
        /// A pipe that carries exactly `length` bytes: an archive written
        /// as it is sent (pulled from a registry, assembled from files).
        /// One that ends sooner fails the load, so that an archive whose
        /// writer stopped never reaches the daemon as if whole.
        case pipe(FileDescriptor, length: Int64)

        var knownLength: Int64? {
            switch self {
            case .file(_, _, let length), .pipe(_, let length): length
            case .stream: nil
            }
        }
    }

    public var segments: [Segment]
    /// What the archive is, for messages when the daemon refuses it.
    public var archive: ArchiveDescription

    public init(segments: [Segment], archive: ArchiveDescription) {
        self.segments = segments
        self.archive = archive
    }

    /// The whole length when every part's is known: sent as
    /// `Content-Length`; otherwise the body goes chunked.
    public var length: Int64? {
        var total: Int64 = 0
        for segment in segments {
            guard let length = segment.knownLength else { return nil }
            total += length
        }
        return total
    }
}

/// The body as an async sequence of buffers, each read on NIO's thread
/// pool (a pipe's read blocks) only when the connection asks for the next.
struct ArchiveBodyChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    /// Large reads keep the thread hops few: 1 MiB is 1000 hops for a gigabyte.
    static let chunkSize = 1 << 20

    let body: ArchiveBody
    /// Told of every chunk handed to the connection.
    let sent: (@Sendable (Int) -> Void)?

    func makeAsyncIterator() -> Iterator {
        Iterator(segments: body.segments, name: body.archive.name, sent: sent)
    }

    struct Iterator: AsyncIteratorProtocol {
        var segments: [ArchiveBody.Segment]
        let name: String
        let sent: (@Sendable (Int) -> Void)?
        var index = 0
        /// Bytes of the current file segment read so far.
        var consumed: Int64 = 0

        mutating func next() async throws -> ByteBuffer? {
            while index < segments.count {
                let segment = segments[index]
                let chunk = try await Self.read(segment, consumed: consumed, name: name)
                guard let chunk, chunk.readableBytes > 0 else {
                    index += 1
                    consumed = 0
                    continue
                }
                consumed += Int64(chunk.readableBytes)
                sent?(chunk.readableBytes)
                return chunk
            }
            return nil
        }

        /// The next chunk of `segment`, nil at its end.
        private static func read(_ segment: ArchiveBody.Segment, consumed: Int64, name: String) async throws -> ByteBuffer? {
            let wanted: Int
            switch segment {
            case .file(_, _, let length), .pipe(_, let length):
                guard consumed < length else { return nil }
                wanted = Int(Swift.min(Int64(ArchiveBodyChunks.chunkSize), length - consumed))
            case .stream:
                wanted = ArchiveBodyChunks.chunkSize
            }
            return try await NIOThreadPool.singleton.runIfActive {
                var buffer = ByteBufferAllocator().buffer(capacity: wanted)
                let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: wanted) { pointer in
                    let target = UnsafeMutableRawBufferPointer(rebasing: pointer[..<wanted])
                    do {
                        switch segment {
                        case .file(let descriptor, let offset, _):
                            return try descriptor.read(fromAbsoluteOffset: offset + consumed, into: target, retryOnInterrupt: true)
                        case .stream(let descriptor), .pipe(let descriptor, _):
                            return try descriptor.read(into: target, retryOnInterrupt: true)
                        }
                    } catch {
                        throw DaemonError.readingArchive(name, reason: "\(error)")
                    }
                }
                if count == 0, let length = segment.knownLength {
                    throw DaemonError.readingArchive(name, reason: "it ended after \(consumed) of its \(length) bytes")
                }
                return buffer
            }
        }
    }
}
