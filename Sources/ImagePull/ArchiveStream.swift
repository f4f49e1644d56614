import Dispatch
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
import ImageArchive
import ImageReference
import ImageSpec
import struct NIOCore.ByteBuffer
import RegistryClient
import Synchronization
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
    /// Whether a download may write the rest of its blob to the output
    /// itself. That write blocks while the output is full, on a thread of
    /// the concurrency pool: harmless for a reader in another process, but
    /// a reader in this process (a pipe to a daemon's connection) needs
    /// that pool to read, and with every pool thread blocked (two, on two
    /// cores) nothing would. Without it, every byte goes through the spool
    /// and only the writer, on its own thread, writes to the output.
    var passThrough = true

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
        let board = SpoolBoard(count: blobs.count, output: output, shownPath: shownPath, passThrough: passThrough)
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
/// the first failure on either side — all behind one lock. The writer, on a
/// thread of its own, sleeps on a semaphore that every change signals.
final class SpoolBoard: Sendable {
    private struct State {
        var written: [Int64]
        var finished: [Bool]
        var consumed: [Bool]
        var reading: Set<Int> = []
        var consumedCount = 0
        var failure: (any Error)?
        var waiters: [Int: [CheckedContinuation<Void, any Error>]] = [:]
    }

    private let state: Mutex<State>
    /// Signalled at every change; the writer re-reads the state when woken.
    private let changed = DispatchSemaphore(value: 0)
    /// Where the archive goes, for blobs passed through (``SpoolFile/passThrough(at:)``).
    let output: FileDescriptor
    let shownPath: String
    /// Whether a download may write to ``output`` itself (``ArchiveStream/passThrough``).
    let passThrough: Bool

    init(count: Int, output: FileDescriptor, shownPath: String, passThrough: Bool) {
        self.output = output
        self.shownPath = shownPath
        self.passThrough = passThrough
        state = Mutex(State(
            written: Array(repeating: 0, count: count), finished: Array(repeating: false, count: count),
            consumed: Array(repeating: false, count: count)))
    }

    /// How many blobs the writer is done with.
    var consumedCount: Int { state.withLock { $0.consumedCount } }

    /// The first failure recorded, which the run reports.
    var firstFailure: (any Error)? { state.withLock { $0.failure } }

    /// `bytes` more of blob `index` are in its spool file; throws once the run failed.
    func appended(_ index: Int, bytes: Int64) throws {
        try state.withLock { state in
            if let failure = state.failure { throw failure }
            state.written[index] += bytes
        }
        changed.signal()
    }

    /// Blob `index` starts again from its first byte; only while the writer has not read any of it.
    func restart(_ index: Int) -> Bool {
        state.withLock { state in
            guard !state.consumed[index], state.written[index] == 0 || !state.reading.contains(index) else { return false }
            state.written[index] = 0
            return true
        }
    }

    func finish(_ index: Int) {
        state.withLock { $0.finished[index] = true }
        changed.signal()
    }

    /// Records the first failure; the writer and every waiter stop with it.
    func fail(_ error: any Error) {
        let waiting = state.withLock { state in
            if state.failure == nil { state.failure = error }
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap { $0 }
        }
        changed.signal()
        for waiter in waiting { waiter.resume(throwing: error) }
    }

    /// Blocks (the writer's thread) until blob `index` has more than `offset`
    /// bytes or is complete; the bytes available and whether it is complete.
    func wait(_ index: Int, beyond offset: Int64) throws -> (available: Int64, complete: Bool) {
        while true {
            let seen: (available: Int64, complete: Bool)? = try state.withLock { state in
                state.reading.insert(index)
                if let failure = state.failure { throw failure }
                guard state.written[index] > offset || state.finished[index] else { return nil }
                return (state.written[index], state.finished[index])
            }
            if let seen { return seen }
            changed.wait()
        }
    }

    /// Whether blob `index` has exactly `offset` bytes and more to come,
    /// checked by the writer once it has written those `offset`; the
    /// spool's routing lock, held by the caller, keeps the download from
    /// adding to the spool meanwhile.
    func isDrained(_ index: Int, at offset: Int64) -> Bool {
        state.withLock { $0.failure == nil && $0.written[index] == offset && !$0.finished[index] }
    }

    /// The writer is done with blob `index`.
    func markConsumed(_ index: Int) {
        let ready = state.withLock { state in
            state.consumed[index] = true
            state.consumedCount += 1
            return state.waiters.removeValue(forKey: index) ?? []
        }
        for waiter in ready { waiter.resume() }
    }

    /// Waits until the writer is done with blob `index`.
    func consumed(_ index: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: Result<Void, any Error>? = state.withLock { state in
                if let failure = state.failure { return .failure(failure) }
                if state.consumed[index] { return .success(()) }
                state.waiters[index, default: []].append(continuation)
                return nil
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }
}

/// The spool file of one blob, in TMPDIR, removed when written out (once:
/// the writer and the cleanup after an error may both ask).
final class SpoolFile: Sendable {
    let index: Int
    let board: SpoolBoard
    /// The file, until it is removed.
    private let file: Mutex<OutputFile?>
    let descriptor: FileDescriptor
    let path: String

    /// Whether the download goes to the output from now on, and whether it
    /// arrives chunk by chunk (only then may it be passed through: a blob
    /// copied in whole, from the cache, counts only once it is all in the
    /// spool). Held while a chunk is routed and while the writer decides to
    /// pass the blob through, so no chunk lands in the spool after the
    /// writer stopped reading it.
    private let routing = Mutex((passedThrough: false, streams: false))

    init(index: Int, board: SpoolBoard, temporaryPaths: TemporaryPaths) throws {
        self.index = index
        self.board = board
        let file = try OutputFile(target: FileManager.default.temporaryDirectory.path + "/hocker-spool-\(UInt32.random(in: .min ... .max))", registry: temporaryPaths)
        descriptor = file.descriptor
        path = file.temporary
        self.file = Mutex(file)
    }

    /// A sink that appends to the spool and tells the writer after each chunk.
    func sink(shownPath: String) -> SpoolSink {
        routing.withLock { $0.streams = true }
        return SpoolSink(spool: self, shownPath: shownPath)
    }

    /// Called by the writer after writing the first `offset` bytes of the
    /// blob: when that is all there is so far and more is to come, the
    /// download writes the rest to the output itself, and true is returned
    /// (the writer then only waits for the blob to complete).
    func passThrough(at offset: Int64) -> Bool {
        routing.withLock { routing in
            guard board.passThrough, routing.streams, board.isDrained(index, at: offset) else { return false }
            routing.passedThrough = true
            return true
        }
    }

    /// Writes a chunk of the download where it belongs now, at `offset` of the blob.
    func route(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        try routing.withLock { routing in
            if routing.passedThrough {
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

    func remove() {
        file.withLock { file in
            file?.discard()
            file = nil
        }
    }
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
        try await DedicatedThread.run {
            do {
                try layout.writeInOrder(put: put) { index, _ in try writeBlob(index) }
            } catch {
                board.fail(error)
                throw error
            }
        }
    }

    /// Writes blob `index` from its spool as it fills, until the download
    /// passes it through or it is complete.
    private func writeBlob(_ index: Int) throws {
        let spool = spools[index]
        var offset: Int64 = 0
        var passedThrough = false
        while true {
            let (available, complete) = try board.wait(index, beyond: offset)
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
        board.markConsumed(index)
        spool.remove()
    }

    private func put(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            try FileChunks.write(bytes, to: output, at: nil)
        } catch {
            throw OutputError.writing(shownPath, error)
        }
    }
}
