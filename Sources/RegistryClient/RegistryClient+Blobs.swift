import AsyncHTTPClient
import Foundation
import ImageReference
import ImageSpec
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import struct SystemPackage.Errno
import struct SystemPackage.FileDescriptor

/// Where a blob's bytes go: a file, the offset in it where the blob starts,
/// and the path the file is known by, for messages.
public struct BlobDestination: Sendable {
    public var file: FileDescriptor
    /// Bytes into the file where the blob's first byte goes; nil for a
    /// stream (a FIFO, a device), which takes the bytes in order and cannot
    /// be rewound.
    public var offset: Int64?
    /// The path messages name (the target the user gave, not a temporary name).
    public var path: String

    public init(file: FileDescriptor, offset: Int64? = 0, path: String) {
        self.file = file
        self.offset = offset
        self.path = path
    }
}

extension RegistryClient {
    /// Streams blob `digest` of `image`'s repository into `destination`,
    /// hashing on the way. Verifies the size (when known) and the digest; an
    /// interrupted transfer resumes with `Range`.
    ///
    /// - Parameters:
    ///   - size: the size in bytes the manifest gives; nil when unknown.
    ///   - progress: called with the number of new bytes after each chunk
    ///     (negative when a transfer restarts from zero).
    /// - Returns: the number of bytes written.
    @discardableResult
    public func fetchBlob(
        _ digest: Digest, size: Int64?, of image: ImageReference, into destination: BlobDestination,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> Int64 {
        var sink = FileSink(destination)
        return try await transferBlob(digest, size: size, repository: image.repository, into: &sink, progress: progress)
    }

    /// ``fetchBlob(_:size:of:into:progress:)`` of the blob a descriptor names.
    @discardableResult
    public func fetchBlob(
        _ descriptor: Descriptor, of image: ImageReference, into destination: BlobDestination, progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> Int64 {
        try await fetchBlob(descriptor.digest, size: descriptor.size, of: image, into: destination, progress: progress)
    }

    /// The bytes of a small blob (an image config), read into memory and
    /// verified. Refused when it is larger than `limit` bytes (default 4 MiB).
    public func fetchBlobBytes(_ descriptor: Descriptor, of image: ImageReference, limit: Int = 4 << 20) async throws -> Data {
        guard descriptor.size <= limit else { throw RegistryError.tooLarge(what: "blob \(descriptor.digest)", limit: limit) }
        var sink = MemorySink(limit: limit, what: "blob \(descriptor.digest)")
        try await transferBlob(descriptor.digest, size: descriptor.size, repository: image.repository, into: &sink, progress: nil)
        return Data(buffer: sink.buffer)
    }

    /// The one blob transfer: a GET, resumed with `Range` after an
    /// interruption (within one retry budget), every chunk hashed and
    /// handed to `sink`.
    ///
    /// Every attempt starts at the registry, so a redirect to storage whose
    /// signed URLs expire or work once is asked for afresh. A resume asks
    /// `bytes=N-END` once the length is known (some storage answers an
    /// open-ended range 416), `bytes=N-` only when it is not; the length is
    /// the manifest's, else the first answer's `Content-Length` or
    /// `Content-Range`, else asked with a `Range: bytes=0-0` GET (storage
    /// may refuse HEAD). No `Accept-Ranges` is needed: an answer of 200 to
    /// a resume starts the blob over.
    @discardableResult
    func transferBlob<Sink: BlobSink>(
        _ digest: Digest, size expectedSize: Int64?, repository: String, into sink: inout Sink, progress: (@Sendable (Int64) -> Void)?
    ) async throws -> Int64 {
        let url = url(repository, "blobs", digest.description)
        let what = "blob \(digest)"
        // Without verification (a Nix fixed-output build checks the output) nothing is hashed.
        let verify = configuration.verifyDigests
        var hasher = DigestHasher(digest.algorithm)
        var received: Int64 = 0
        // The blob's length: the manifest's, else learnt from the registry, so that
        // a resume never asks for a range past the end (distribution answers that
        // with a 416 whose announced body never comes).
        var knownSize = expectedSize
        var retry = makeRetryBudget()
        // Where the bytes come from: the registry, or a foreign layer's own URL.
        var source = url
        func prepare(_ headers: inout HTTPHeaders) {
            if received > 0 {
                let end: String = knownSize.map { String($0 - 1) } ?? ""
                headers.replaceOrAdd(name: "Range", value: "bytes=\(received)-\(end)")
            }
        }
        func receive(_ response: HTTPClientResponse) async throws {
            let resuming = received > 0
            var progressed = false
            let contentLength = response.headers.first(name: "Content-Length").flatMap(Int64.init)
            switch response.status {
            case .ok:
                if resuming {
                    // The registry ignored the range: start over.
                    progress?(-received)
                    hasher = DigestHasher(digest.algorithm)
                    received = 0
                    try sink.restart()
                }
                if knownSize == nil { knownSize = contentLength }
            case .partialContent where resuming:
                guard let range = response.headers.first(name: "Content-Range"), range.hasPrefix("bytes \(received)-") else {
                    throw RegistryError.unexpectedStatus(206, url: source, detail: "Content-Range does not start at byte \(received)")
                }
                if knownSize == nil { knownSize = range.split(separator: "/").last.flatMap { Int64($0) } }
            case .rangeNotSatisfiable where resuming:
                // Only when the length could not be learnt: `Content-Range: bytes */LENGTH`
                // says whether everything had arrived. Its body is not read (it may never come).
                let total = response.headers.first(name: "Content-Range").flatMap { $0.split(separator: "/").last }.flatMap { Int64($0) }
                if total == received { return }
                throw RegistryError.unexpectedStatus(416, url: source, detail: "the registry has no byte \(received) of the blob")
            default:
                throw await failure(response, url: source, repository: repository) { _ in
                    .blobUnknown(digest: digest, repository: repository, registry: self.endpoint.host)
                }
            }
            if let expectedSize, let contentLength, received + contentLength != expectedSize {
                throw RegistryError.sizeMismatch(what: what, expected: expectedSize, actual: received + contentLength)
            }
            do {
                for try await chunk in response.body {
                    received += Int64(chunk.readableBytes)
                    if let expectedSize, received > expectedSize {
                        throw RegistryError.sizeMismatch(what: what, expected: expectedSize, actual: received)
                    }
                    if verify { chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) } }
                    progressed = true
                    try sink.write(chunk)
                    progress?(Int64(chunk.readableBytes))
                }
                try sink.flush()
            } catch let error as RegistryError {
                throw error
            } catch {
                try sink.flush()
                try checkDeadline(url: url, last: "\(received) bytes of \(what) received")
                // A foreign URL is never asked anything but the blob itself (its size is the manifest's).
                if knownSize == nil, source == url { knownSize = try await blobSize(url: url, repository: repository) }
                // Every byte arrived before the connection broke: nothing left to ask for.
                if let knownSize, received >= knownSize { return }
                logger.debug("blob transfer interrupted", metadata: ["digest": "\(digest.short)", "received": "\(received)", "error": "\(Self.describe(error))"])
                throw TransferInterrupted(failure: Self.attemptFailure(error, madeProgress: progressed))
            }
        }
        do {
            try await send(RegistryRequest(.GET, url, authentication: .registry(repository: repository)), retry: &retry, prepare: prepare, receive: receive)
        } catch let error as RegistryError {
            // A foreign layer the registry does not hold: from the URLs its manifest lists, with no credentials, when allowed.
            guard case .blobUnknown = error, received == 0, let urls = blobURLs.withLock({ $0[digest] }), let first = urls.first else { throw error }
            guard configuration.nondistributableURLs else {
                throw RegistryError.nondistributable(digest: digest, url: first, repository: repository, registry: endpoint.host)
            }
            var failure: (any Error)? = error
            for foreign in urls {
                source = foreign
                logger.debug("blob not in the registry; fetching it from its manifest's URL", metadata: ["digest": "\(digest.short)", "url": "\(foreign)"])
                do {
                    try await send(RegistryRequest(.GET, foreign, authentication: .anonymous), retry: &retry, prepare: prepare, receive: receive)
                    failure = nil
                    break
                } catch {
                    // Bytes already written from one URL are not mixed with another's.
                    if received > 0 { throw error }
                    failure = error
                }
            }
            if let failure { throw failure }
        }
        if let expectedSize, received != expectedSize {
            throw RegistryError.sizeMismatch(what: what, expected: expectedSize, actual: received)
        }
        guard verify else { return received }
        let actual = hasher.finalize()
        guard actual == digest else {
            throw RegistryError.digestMismatch(what: what, expected: digest, actual: actual)
        }
        return received
    }

    /// Whether the registry serves blob `digest` of `image`'s repository,
    /// asked with one `HEAD` (redirects followed): returns when it does,
    /// throws what the registry answered when it does not. What a mirror is
    /// asked before a blob alone is fetched from it.
    public func checkBlob(_ digest: Digest, of image: ImageReference) async throws {
        let url = url(image.repository, "blobs", digest.description)
        var retry = makeRetryBudget()
        try await send(RegistryRequest(.HEAD, url, authentication: .registry(repository: image.repository)), retry: &retry) { response in
            guard response.status == .ok else {
                throw await failure(response, url: url, repository: image.repository) { _ in
                    .blobUnknown(digest: digest, repository: image.repository, registry: self.endpoint.host)
                }
            }
        }
    }

    /// The length of a blob, asked with a GET of its first byte (`Range:
    /// bytes=0-0`, the length in `Content-Range: bytes 0-0/LENGTH`) rather
    /// than a HEAD, which storage behind a redirect may refuse (a URL
    /// signed for GET); nil when the answer does not say.
    private func blobSize(url: String, repository: String) async throws -> Int64? {
        var retry = makeRetryBudget()
        let request = RegistryRequest(.GET, url, headers: ["Range": "bytes=0-0"], authentication: .registry(repository: repository))
        return try await send(request, retry: &retry) { response in
            switch response.status {
            case .partialContent:
                _ = try? await response.body.collect(upTo: 1024)
                return response.headers.first(name: "Content-Range").flatMap { $0.split(separator: "/").last }.flatMap { Int64($0) }
            case .ok:
                // The whole blob is on its way: its length is all that is wanted.
                return response.headers.first(name: "Content-Length").flatMap(Int64.init)
            default:
                return nil
            }
        }
    }

    /// Throws once the run's deadline has passed.
    func checkDeadline(url: String, last: @autoclosure () -> String) throws(RegistryError) {
        try makeRetryBudget().checkDeadline(url: url, last: last())
    }
}

/// Where a blob transfer puts the bytes it receives, in order: a file at
/// an offset, memory, or a caller's own (a spool a stream is read from).
public protocol BlobSink {
    /// Takes the next chunk (already counted into the digest).
    mutating func write(_ chunk: ByteBuffer) throws(RegistryError)
    /// Writes out what is buffered.
    mutating func flush() throws(RegistryError)
    /// Forgets everything written: the transfer starts again from byte 0.
    mutating func restart() throws(RegistryError)
}

extension RegistryClient {
    /// Streams blob `digest` into a sink of the caller's, as
    /// ``fetchBlob(_:size:of:into:progress:)`` does into a file: resumed
    /// after an interruption, size and digest verified at the end.
    @discardableResult
    public func fetchBlob<Sink: BlobSink>(
        _ digest: Digest, size: Int64?, of image: ImageReference, into sink: inout Sink, progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> Int64 {
        try await transferBlob(digest, size: size, repository: image.repository, into: &sink, progress: progress)
    }
}

/// A file at an offset, written in gathered `pwritev`s.
struct FileSink: BlobSink {
    let destination: BlobDestination
    private var writer: ChunkWriter

    init(_ destination: BlobDestination) {
        self.destination = destination
        writer = ChunkWriter(file: destination.file, offset: destination.offset)
    }

    mutating func write(_ chunk: ByteBuffer) throws(RegistryError) {
        do { try writer.append(chunk) } catch { throw failed(error) }
    }

    mutating func flush() throws(RegistryError) {
        do { try writer.flush() } catch { throw failed(error) }
    }

    mutating func restart() throws(RegistryError) {
        guard destination.offset != nil else {
            throw .cannotWrite(path: destination.path, detail: "the registry sent the blob again from its start, and a stream cannot be rewound")
        }
        writer = ChunkWriter(file: destination.file, offset: destination.offset)
    }

    private func failed(_ error: any Error) -> RegistryError {
        .cannotWrite(path: destination.path, detail: (error as? Errno).map { String(describing: $0) } ?? "\(error)")
    }
}

/// Memory, up to a limit.
struct MemorySink: BlobSink {
    let limit: Int
    let what: String
    private(set) var buffer = ByteBuffer()

    init(limit: Int, what: String) {
        self.limit = limit
        self.what = what
    }

    mutating func write(_ chunk: ByteBuffer) throws(RegistryError) {
        guard buffer.readableBytes + chunk.readableBytes <= limit else { throw .tooLarge(what: what, limit: limit) }
        var chunk = chunk
        buffer.writeBuffer(&chunk)
    }

    mutating func flush() {}

    mutating func restart() { buffer.clear() }
}
