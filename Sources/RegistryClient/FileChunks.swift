import ImageReference
import struct SystemPackage.Errno
import struct SystemPackage.FileDescriptor

/// Reading a file from its start in 1 MiB pieces: the one loop behind
/// copying a cached blob into an archive (checking it), copying store paths
/// into an archive, and printing a verified blob to stdout.
public enum FileChunks {
    /// Hands the bytes of `file`, from offset 0, to `body` in order.
    ///
    /// - Parameters:
    ///   - count: how many bytes to read; the file must have that many.
    ///     Nil reads to the end.
    ///   - body: called with each piece and the offset it starts at.
    /// - Returns: the number of bytes read.
    @discardableResult
    public static func forEach(
        in file: FileDescriptor, count: Int64? = nil, _ body: (UnsafeRawBufferPointer, _ offset: Int64) throws -> Void
    ) throws -> Int64 {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var done: Int64 = 0
        while count.map({ done < $0 }) ?? true {
            let wanted = count.map { Int(min(Int64(buffer.count), $0 - done)) } ?? buffer.count
            let read = try buffer.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: done, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted])) }
            if read == 0 {
                // A file shorter than it should be (it shrank, or is damaged).
                if count != nil { throw Errno.ioError }
                break
            }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<read]), done) }
            done += Int64(read)
        }
        return done
    }

    /// Copies `count` bytes from the start of `source` into `destination` at `offset`.
    public static func copy(from source: FileDescriptor, count: Int64, into destination: FileDescriptor, at offset: Int64) throws {
        try forEach(in: source, count: count) { piece, position in
            _ = try destination.writeAll(toAbsoluteOffset: offset + position, piece)
        }
    }

    /// Copies `source` (`count` bytes, or to its end) into `destination` at
    /// `offset`, hashing it on the way: one read to copy and check a file.
    ///
    /// - Returns: the digest with `algorithm` and the number of bytes copied.
    public static func copyHashing(
        from source: FileDescriptor, count: Int64? = nil, into destination: FileDescriptor, at offset: Int64, algorithm: Digest.Algorithm
    ) throws -> (digest: Digest, size: Int64) {
        var hasher = BlobHasher(algorithm)
        let size = try forEach(in: source, count: count) { piece, position in
            hasher.update(bufferPointer: piece)
            _ = try destination.writeAll(toAbsoluteOffset: offset + position, piece)
        }
        return (hasher.finalize(), size)
    }
}
