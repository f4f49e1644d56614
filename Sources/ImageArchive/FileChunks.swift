import ImageReference
import ImageSpec
import struct SystemPackage.Errno
import struct SystemPackage.FileDescriptor
#if canImport(Glibc)
import Glibc
#endif

/// A copy between files that failed, saying which side failed, so the
/// caller's message can name the right file.
public enum FileCopyError: Error, Sendable, CustomStringConvertible {
    /// Reading the source failed.
    case read(Errno)
    /// The source ended before the bytes it should have.
    case truncated(expected: Int64, actual: Int64)
    /// Writing the destination failed.
    case write(Errno)

    public var description: String {
        switch self {
        case .read(let errno): "\(errno)"
        case .truncated(let expected, let actual): "it has \(actual) bytes, \(expected) expected"
        case .write(let errno): "\(errno)"
        }
    }
}

/// Reading a file from its start in 1 MiB pieces: the one loop behind
/// copying a cached blob into an archive (checking it), copying store paths
/// into an archive, and printing a verified blob to stdout.
public enum FileChunks {
    /// Hands the bytes of `file`, from offset 0, to `body` in order.
    ///
    /// - Parameters:
    ///   - count: how many bytes to read; the file must have that many.
    ///     Nil reads to the end.
    ///   - body: called with each piece and the offset it starts at; what it
    ///     throws is passed on as it is.
    /// - Returns: the number of bytes read.
    /// - Throws: `FileCopyError.read` or `.truncated` for the file itself.
    @discardableResult
    public static func forEach(
        in file: FileDescriptor, count: Int64? = nil, _ body: (UnsafeRawBufferPointer, _ offset: Int64) throws -> Void
    ) throws -> Int64 {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var done: Int64 = 0
        while count.map({ done < $0 }) ?? true {
            let wanted = count.map { Int(min(Int64(buffer.count), $0 - done)) } ?? buffer.count
            let read: Int
            do {
                read = try buffer.withUnsafeMutableBytes { try file.read(fromAbsoluteOffset: done, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted])) }
            } catch let errno as Errno {
                throw FileCopyError.read(errno)
            }
            if read == 0 {
                // A file shorter than it should be (it shrank, or is damaged).
                if let count { throw FileCopyError.truncated(expected: count, actual: done) }
                break
            }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<read]), done) }
            done += Int64(read)
        }
        return done
    }

    /// Copies `count` bytes from the start of `source` into `destination` at
    /// `offset` (nil: in order, for a stream).
    public static func copy(from source: FileDescriptor, count: Int64, into destination: FileDescriptor, at offset: Int64?) throws(FileCopyError) {
        do {
            try forEach(in: source, count: count) { piece, position in
                try write(piece, to: destination, at: offset.map { $0 + position })
            }
        } catch let error as FileCopyError {
            throw error
        } catch {
            throw .read(.ioError)
        }
    }

    /// Copies `source` (`count` bytes, or to its end) into `destination` at
    /// `offset` (nil: in order), hashing it on the way: one read to copy and
    /// check a file. Without a destination it only hashes.
    ///
    /// - Returns: the digest with `algorithm` and the number of bytes copied.
    public static func copyHashing(
        from source: FileDescriptor, count: Int64? = nil, into destination: FileDescriptor?, at offset: Int64?, algorithm: Digest.Algorithm
    ) throws(FileCopyError) -> (digest: Digest, size: Int64) {
        var hasher = DigestHasher(algorithm)
        let size: Int64
        do {
            size = try forEach(in: source, count: count) { piece, position in
                hasher.update(bufferPointer: piece)
                if let destination { try write(piece, to: destination, at: offset.map { $0 + position }) }
            }
        } catch let error as FileCopyError {
            throw error
        } catch {
            throw .read(.ioError)
        }
        return (hasher.finalize(), size)
    }

    /// Copies `count` bytes from the start of `source` into `destination` at
    /// `offset` inside the kernel (`copy_file_range`: no pass through user
    /// memory, and a shared extent where the file system can), else as
    /// ``copy(from:count:into:at:)`` does.
    public static func copyInKernel(from source: FileDescriptor, count: Int64, into destination: FileDescriptor, at offset: Int64) throws(FileCopyError) {
        #if os(Linux)
        typealias CopyFileRange = @convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "copy_file_range") {
            let copyFileRange = unsafeBitCast(symbol, to: CopyFileRange.self)
            var input: Int64 = 0
            var output = offset
            while input < count {
                let copied = copyFileRange(source.rawValue, &input, destination.rawValue, &output, Int(min(count - input, 1 << 30)), 0)
                if copied > 0 { continue }
                if copied == 0 { throw .truncated(expected: count, actual: input) }
                if errno == EINTR { continue }
                // Not across these file systems, or not here at all: copy by hand from where it stopped.
                guard input == 0, [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP].contains(errno) else { throw .write(Errno(rawValue: errno)) }
                break
            }
            if input == count { return }
        }
        #endif
        try copy(from: source, count: count, into: destination, at: offset)
    }

    /// Copies bytes `range` of `source` to `destination` at its current
    /// position (a stream: a pipe, a terminal, a file). Into anything but a
    /// regular file, inside the kernel (`sendfile`: 240 MB into a pipe took
    /// 0.59× the time of a buffered copy here); into a regular file through
    /// a buffer, which measured faster there than `sendfile` (1.3×) or
    /// `copy_file_range` (1.2×).
    public static func send(from source: FileDescriptor, range: Range<Int64>, to destination: FileDescriptor) throws(FileCopyError) {
        var position = range.lowerBound
        #if os(Linux)
        var status = stat()
        let regularFile = fstat(destination.rawValue, &status) == 0 && (status.st_mode & S_IFMT) == S_IFREG
        typealias SendFile = @convention(c) (Int32, Int32, UnsafeMutablePointer<Int64>?, Int) -> Int
        if !regularFile, let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "sendfile") {
            let sendFile = unsafeBitCast(symbol, to: SendFile.self)
            while position < range.upperBound {
                let sent = sendFile(destination.rawValue, source.rawValue, &position, Int(min(range.upperBound - position, 1 << 30)))
                if sent > 0 { continue }
                if sent == 0 { throw .truncated(expected: range.upperBound, actual: position) }
                if errno == EINTR { continue }
                // An output sendfile cannot write to (one opened for appending): by hand from here.
                guard [EINVAL, ENOSYS, EOPNOTSUPP].contains(errno) else { throw .write(Errno(rawValue: errno)) }
                break
            }
        }
        #endif
        var buffer = [UInt8](repeating: 0, count: Int(min(range.upperBound - position, 1 << 20)))
        while position < range.upperBound {
            let wanted = Int(min(Int64(buffer.count), range.upperBound - position))
            let read: Int
            do {
                read = try buffer.withUnsafeMutableBytes {
                    try source.read(fromAbsoluteOffset: position, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted]))
                }
            } catch let errno as Errno {
                throw .read(errno)
            } catch {
                throw .read(.ioError)
            }
            guard read > 0 else { throw .truncated(expected: range.upperBound, actual: position) }
            do {
                try buffer.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<read]), to: destination, at: nil) }
            } catch let error as FileCopyError {
                throw error
            } catch {
                throw .write(.ioError)
            }
            position += Int64(read)
        }
    }

    /// Writes all of `piece` at `offset` (`nil`: at the current position).
    public static func write(_ piece: UnsafeRawBufferPointer, to destination: FileDescriptor, at offset: Int64?) throws(FileCopyError) {
        do {
            if let offset {
                _ = try destination.writeAll(toAbsoluteOffset: offset, piece)
            } else {
                _ = try destination.writeAll(piece)
            }
        } catch let errno as Errno {
            throw .write(errno)
        } catch {
            throw .write(.ioError)
        }
    }
}
