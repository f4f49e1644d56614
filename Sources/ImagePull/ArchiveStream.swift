import Foundation
import ImageArchive
import ImageReference
import ImageSpec
import struct NIOCore.ByteBuffer
import RegistryClient
import SystemPackage

/// A docker-archive written in order to a stream (standard output, a FIFO):
/// the bytes of each blob go out as they arrive, while the blobs after it
/// download in parallel ahead of the writer.
///
/// The buffer is on disk: every blob in flight has a spool file in TMPDIR,
/// removed as soon as it has been written out; at most `ahead` blobs
/// (default 4) are downloading or waiting to be written at any time, so the
/// disk used is at most the sum of the `ahead` largest blobs, and memory
/// stays flat. Once the writer has caught up with the blob it is writing
/// (it has written all its spool holds), the rest of that blob goes from
/// the download straight to the output, not through the spool: a blob
/// that is downloaded no faster than it is written (a single large layer)
/// is copied once, as into a file. The archive is byte for byte the one
/// written to a file.
struct ArchiveStream {
    let layout: TarLayout
    let ahead: Int

    /// Writes the archive of `layout` to `output`, downloading its blobs with `fetch`.
    ///
    /// - Parameters:
    ///   - fetch: downloads blob `index` into the sink (or into the file, from a cache).
    ///   - observer: told of each blob's progress.
    func write(
        to output: FileDescriptor, shownPath: String, temporaryPaths: TemporaryPaths, observer: (any TransferObserver)?,
        fetch: @escaping @Sendable (_ blob: Descriptor, _ spool: SpoolFile) async throws -> Void
    ) async throws {
        let blobs = layout.blobEntries.map(\.blob)
        let board = SpoolBoard(count: blobs.count, output: output, shownPath: shownPath)
        var spools: [SpoolFile] = []
        defer { for spool in spools { spool.remove() } }
        for (index, _) in blobs.enumerated() {
            spools.append(try SpoolFile(index: index, board: board, temporaryPaths: temporaryPaths))
        }
        let writer = WriterThread(layout: layout, spools: spools, board: board, output: output, shownPath: shownPath)
        let spoolFiles = spools
        observer?.transferStarting(blobs)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await writer.run() }
                var next = 0
                func startAvailable() {
                    while next < blobs.count, next - board.consumedCount < ahead {
                        let index = next
                        next += 1
                        group.addTask {
                            let blob = blobs[index]
                            observer?.blobStarted(blob)
                            do {
                                try await fetch(blob, spoolFiles[index])
                                board.finish(index)
                            } catch {
                                board.fail(error)
                                throw error
                            }
                            observer?.blobFinished(blob, from: .registry)
                            // The place frees when the writer is done with it.
                            try await board.consumed(index)
                        }
                    }
                }
                startAvailable()
                while try await group.next() != nil { startAvailable() }
            }
        } catch {
            // The first failure on either side, not the cancellation it caused in the other.
            throw board.firstFailure ?? error
        }
        observer?.transferCompleted()
    }
}

/// What the downloads and the writer know of each other: how many bytes
/// each spool holds, which are complete, which the writer is done with, and
/// the first failure on either side.
final class SpoolBoard: @unchecked Sendable {
    private let condition = NSCondition()
    private var written: [Int64]
    private var finished: [Bool]
    private var consumed: [Bool]
    private var failure: (any Error)?
    private var waiters: [Int: [CheckedContinuation<Void, any Error>]] = [:]
    private(set) var consumedCount = 0
    /// Where the archive goes, for blobs passed through (``passThrough(_:at:)``).
    let output: FileDescriptor
    let shownPath: String

    init(count: Int, output: FileDescriptor, shownPath: String) {
        self.output = output
        self.shownPath = shownPath
        written = Array(repeating: 0, count: count)
        finished = Array(repeating: false, count: count)
        consumed = Array(repeating: false, count: count)
    }

    /// `bytes` more of blob `index` are in its spool file; throws once the run failed.
    func appended(_ index: Int, bytes: Int64) throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        written[index] += bytes
        condition.broadcast()
    }

    /// Blob `index` starts again from its first byte; only while the writer has not read any of it.
    func restart(_ index: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !consumed[index], written[index] == 0 || !startedReading.contains(index) else { return false }
        written[index] = 0
        return true
    }

    private var startedReading: Set<Int> = []

    func finish(_ index: Int) {
        condition.lock()
        finished[index] = true
        condition.broadcast()
        condition.unlock()
    }

    /// The first failure recorded, which the run reports.
    var firstFailure: (any Error)? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// Records the first failure; the writer and every waiter stop with it.
    func fail(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        let all = waiters.values.flatMap { $0 }
        waiters = [:]
        condition.broadcast()
        condition.unlock()
        for waiter in all { waiter.resume(throwing: error) }
    }

    /// Blocks (the writer's thread) until blob `index` has more than `offset`
    /// bytes or is complete; the bytes available and whether it is complete.
    func wait(_ index: Int, beyond offset: Int64) throws -> (available: Int64, complete: Bool) {
        condition.lock()
        defer { condition.unlock() }
        startedReading.insert(index)
        while failure == nil, written[index] <= offset, !finished[index] { condition.wait() }
        if let failure { throw failure }
        return (written[index], finished[index])
    }

    /// Whether blob `index` has exactly `offset` bytes and more to come,
    /// checked by the writer once it has written those `offset`; the
    /// spool's `routing` lock, held by the caller, keeps the download from
    /// adding to the spool meanwhile.
    func isDrained(_ index: Int, at offset: Int64) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return failure == nil && written[index] == offset && !finished[index]
    }

    /// The writer is done with blob `index`.
    func markConsumed(_ index: Int) {
        condition.lock()
        consumed[index] = true
        consumedCount += 1
        let ready = waiters.removeValue(forKey: index) ?? []
        condition.unlock()
        for waiter in ready { waiter.resume() }
    }

    /// Waits until the writer is done with blob `index`.
    func consumed(_ index: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            condition.lock()
            if let failure {
                condition.unlock()
                continuation.resume(throwing: failure)
            } else if consumed[index] {
                condition.unlock()
                continuation.resume()
            } else {
                waiters[index, default: []].append(continuation)
                condition.unlock()
            }
        }
    }
}

/// The spool file of one blob, in TMPDIR, removed when written out (once:
/// the writer and the cleanup after an error may both ask).
final class SpoolFile: @unchecked Sendable {
    let index: Int
    let file: OutputFile
    let board: SpoolBoard
    /// Held while a chunk is routed (to the spool or the output) and while
    /// the writer decides to pass the blob through, so that no chunk lands
    /// in the spool after the writer stopped reading it.
    private let routing = NSLock()
    /// Set by the writer: the download writes to the output from now on.
    private var passedThrough = false
    /// Whether the blob arrives through ``sink(shownPath:)``, chunk by
    /// chunk: only then may it be passed through (a blob copied in whole,
    /// from the cache, is counted only once it is all in the spool).
    private var streams = false

    init(index: Int, board: SpoolBoard, temporaryPaths: TemporaryPaths) throws {
        self.index = index
        self.board = board
        file = try OutputFile(
            target: FileManager.default.temporaryDirectory.path + "/hocker-spool-\(UInt32.random(in: .min ... .max))", registry: temporaryPaths)
    }

    var descriptor: FileDescriptor { file.descriptor }
    var path: String { file.temporary }

    /// A sink that appends to the spool and tells the writer after each chunk.
    func sink(shownPath: String) -> SpoolSink {
        routing.withLock { streams = true }
        return SpoolSink(spool: self, shownPath: shownPath)
    }

    private let removal = NSLock()

    /// Called by the writer after writing the first `offset` bytes of the
    /// blob: when that is all there is so far and more is to come, the
    /// download writes the rest to the output itself, and true is returned
    /// (the writer then only waits for the blob to complete).
    func passThrough(at offset: Int64) -> Bool {
        routing.withLock {
            guard streams, board.isDrained(index, at: offset) else { return false }
            passedThrough = true
            return true
        }
    }

    /// Writes a chunk of the download where it belongs now, at `offset` of the blob.
    func route(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try routing.withLock {
            if passedThrough {
                do {
                    try FileChunks.write(bytes, to: board.output, at: nil)
                } catch {
                    // Recorded first, so that the run ends with what the output said (a reader gone, a full disk).
                    let failure = OutputError.writing(board.shownPath, error)
                    board.fail(failure)
                    throw failure
                }
            } else {
                try FileChunks.write(bytes, to: descriptor, at: offset)
            }
            try board.appended(index, bytes: Int64(bytes.count))
        }
    }

    func remove() { removal.withLock { file.discard() } }
}

/// Appends a blob's chunks to its spool file as they arrive (no gathering:
/// the writer reads what is there), and tells the writer.
struct SpoolSink: BlobSink {
    let spool: SpoolFile
    let shownPath: String
    private var offset: Int64 = 0

    init(spool: SpoolFile, shownPath: String) {
        self.spool = spool
        self.shownPath = shownPath
    }

    mutating func write(_ chunk: ByteBuffer) throws(RegistryError) {
        let count = Int64(chunk.readableBytes)
        do {
            try chunk.withUnsafeReadableBytes { try spool.route($0, at: offset) }
            offset += count
        } catch let error as RegistryError {
            throw error
        } catch {
            throw .cannotWrite(path: shownPath, detail: "\(error)")
        }
    }

    mutating func flush() {}

    mutating func restart() throws(RegistryError) {
        guard spool.board.restart(spool.index) else {
            throw .cannotWrite(path: shownPath, detail: "the registry sent a blob again from its start after part of it had been written out")
        }
        offset = 0
    }
}

/// Writes the archive's entries in order on a thread of its own (a stream
/// write may block), taking each blob from its spool as it fills.
struct WriterThread: Sendable {
    let layout: TarLayout
    let spools: [SpoolFile]
    let board: SpoolBoard
    let output: FileDescriptor
    let shownPath: String

    func run() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try writeAll()
                    continuation.resume()
                } catch {
                    board.fail(error)
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "hocker-archive-writer"
            thread.start()
        }
    }

    private func writeAll() throws {
        var blobIndex = 0
        let zeros = [UInt8](repeating: 0, count: TarHeader.blockSize * 2)
        for entry in layout.entries {
            try put(entry.header.bytes)
            switch entry.content {
            case .inline(let bytes):
                try put(bytes)
            case .directory:
                break
            case .blob:
                let spool = spools[blobIndex]
                var offset: Int64 = 0
                var passedThrough = false
                while true {
                    let (available, complete) = try board.wait(blobIndex, beyond: offset)
                    if passedThrough {
                        // The download writes these bytes itself.
                        offset = available
                        if complete { break }
                        continue
                    }
                    if offset < available {
                        do {
                            try FileChunks.send(from: spool.descriptor, range: offset..<available, to: output)
                        } catch .write(let errno) {
                            throw OutputError.writing(shownPath, errno)
                        } catch {
                            throw OutputError.cannotWrite(path: spool.path, detail: "the spool file ended early (\(error))")
                        }
                        offset = available
                    }
                    if complete, offset >= available { break }
                    passedThrough = spool.passThrough(at: offset)
                }
                board.markConsumed(blobIndex)
                spool.remove()
                blobIndex += 1
            }
            let padding = Int(entry.header.paddedSize - entry.header.size)
            if padding > 0 { try zeros.withUnsafeBytes { try put(UnsafeRawBufferPointer(rebasing: $0[0..<padding])) } }
        }
        try zeros.withUnsafeBytes { try put($0) }
    }

    private func put(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try put($0) }
    }

    private func put(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            try FileChunks.write(bytes, to: output, at: nil)
        } catch {
            throw OutputError.writing(shownPath, error)
        }
    }
}
