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
import NIOCore
import struct SystemPackage.Errno
import struct SystemPackage.FileDescriptor

/// Gathers body chunks, without copying them, into one `pwritev` of about
/// 1 MiB at increasing offsets: far fewer syscalls than a write per network
/// chunk, and no copy into an intermediate buffer. Without an offset (a
/// stream: a FIFO, a device) the chunks go out in order with `writev`.
struct ChunkWriter {
    let file: FileDescriptor
    /// Where the next byte goes; nil for a stream.
    private(set) var offset: Int64?
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    static let threshold = 1 << 20

    init(file: FileDescriptor, offset: Int64?) {
        self.file = file
        self.offset = offset
        pending.reserveCapacity(64)
    }

    mutating func append(_ chunk: ByteBuffer) throws {
        guard chunk.readableBytes > 0 else { return }
        pending.append(chunk)
        pendingBytes += chunk.readableBytes
        if pendingBytes >= Self.threshold || pending.count >= 64 { try flush() }
    }

    mutating func flush() throws {
        while !pending.isEmpty {
            let written = try writeGathered()
            offset = offset.map { $0 + Int64(written) }
            pendingBytes -= written
            drop(written)
        }
    }

    /// One `pwritev` of every pending chunk; returns the bytes written.
    private func writeGathered() throws -> Int {
        var vectors: [iovec] = []
        vectors.reserveCapacity(pending.count)
        return try withBufferPointers(pending[...], collected: &vectors) { vectors in
            while true {
                let result = offset.map { pwritev(file.rawValue, vectors.baseAddress, Int32(vectors.count), off_t($0)) }
                    ?? writev(file.rawValue, vectors.baseAddress, Int32(vectors.count))
                if result >= 0 { return result }
                if errno != EINTR { throw Errno(rawValue: errno) }
            }
        }
    }

    /// Exposes every buffer's bytes at once, as `withUnsafeReadableBytes` nests.
    private func withBufferPointers<Result>(
        _ buffers: ArraySlice<ByteBuffer>, collected: inout [iovec], _ body: (UnsafeBufferPointer<iovec>) throws -> Result
    ) throws -> Result {
        guard let first = buffers.first else {
            return try collected.withUnsafeBufferPointer { try body($0) }
        }
        return try first.withUnsafeReadableBytes { bytes in
            collected.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
            return try withBufferPointers(buffers.dropFirst(), collected: &collected, body)
        }
    }

    /// Drops the first `count` written bytes from the pending chunks.
    private mutating func drop(_ count: Int) {
        var left = count
        while left > 0, !pending.isEmpty {
            if pending[0].readableBytes <= left {
                left -= pending[0].readableBytes
                pending.removeFirst()
            } else {
                pending[0].moveReaderIndex(forwardBy: left)
                left = 0
            }
        }
    }
}
