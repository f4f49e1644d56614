import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import ImageSpec
import NIOCore
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
    ///   - urls: where the manifest says a non-distributable layer also is
    ///     (used only with ``RegistryClientConfiguration/nondistributableURLs``).
    ///   - progress: called with the number of new bytes after each chunk
    ///     (negative when a transfer restarts from zero).
    /// - Returns: the number of bytes written.
    @discardableResult
    public func fetchBlob(
        _ digest: Digest, size: Int64?, urls: [String] = [], of image: ImageReference, into destination: BlobDestination,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> Int64 {
        var sink = FileSink(destination)
        return try await fetchBlob(digest, size: size, urls: urls, of: image, into: &sink, progress: progress)
    }

    /// ``fetchBlob(_:size:urls:of:into:progress:)`` of the blob a descriptor names.
    @discardableResult
    public func fetchBlob(
        _ descriptor: Descriptor, of image: ImageReference, into destination: BlobDestination, progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> Int64 {
        try await fetchBlob(descriptor.digest, size: descriptor.size, urls: descriptor.urls ?? [], of: image, into: destination, progress: progress)
    }

    /// The bytes of a small blob (an image config), read into memory and
    /// verified. Refused when it is larger than `limit` bytes (default 4 MiB).
    public func fetchBlobBytes(_ descriptor: Descriptor, of image: ImageReference, limit: Int = 4 << 20) async throws -> Data {
        guard descriptor.size <= limit else { throw RegistryError.tooLarge(what: "blob \(descriptor.digest)", limit: limit) }
        var sink = MemorySink(limit: limit, what: "blob \(descriptor.digest)")
        try await fetchBlob(descriptor.digest, size: descriptor.size, urls: descriptor.urls ?? [], of: image, into: &sink)
        return Data(sink.buffer.readableBytesView)
    }

    /// Streams blob `digest` into a sink of the caller's, as
    /// ``fetchBlob(_:size:urls:of:into:progress:)`` does into a file: resumed
    /// after an interruption, size and digest verified at the end.
    ///
    /// Every attempt starts at the registry, so a redirect to storage whose
    /// signed URLs expire or work once is asked for afresh. A resume asks
    /// `bytes=N-END` once the length is known (some storage answers an
    /// open-ended range 416), `bytes=N-` only when it is not; the length is
    /// the manifest's, else the first answer's `Content-Length` or
    /// `Content-Range`, else asked with a `Range: bytes=0-0` GET (storage
    /// may refuse HEAD). No `Accept-Ranges` is needed: an answer of 200 to
    /// a resume starts the blob over. A body that trickles in slower than
    /// ``RegistryClientConfiguration/minimumRate`` counts as a stall. A
    /// foreign layer the registry does not hold comes from its manifest's
    /// `urls`, when that is allowed.
    @discardableResult
    public func fetchBlob<Sink: BlobSink>(
        _ digest: Digest, size: Int64?, urls: [String] = [], of image: ImageReference, into sink: inout Sink,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> Int64 {
        var transfer = BlobTransfer(
            digest: digest, expectedSize: size, verify: configuration.verifyDigests,
            pace: BodyPace(window: configuration.readTimeout, minimumRate: configuration.minimumRate))
        let repository = image.repository
        let url = url(repository, "blobs", digest.description)
        var retry = makeRetryBudget()
        do {
            try await transferAttempts(&transfer, from: url, repository: repository, retry: &retry, into: &sink, progress: progress)
        } catch let error as RegistryError {
            guard case .blobUnknown = error, transfer.received == 0, let first = urls.first else { throw error }
            guard configuration.nondistributableURLs else {
                throw RegistryError.nondistributable(digest: digest, url: first, repository: repository, registry: endpoint.host)
            }
            try await transferForeign(&transfer, urls: urls, refusal: error, retry: &retry, into: &sink, progress: progress)
        }
        return try transfer.verified()
    }

    /// A non-distributable layer from the URLs its manifest lists, without
    /// credentials, tried in order until one serves it.
    private func transferForeign<Sink: BlobSink>(
        _ transfer: inout BlobTransfer, urls: [String], refusal: RegistryError, retry: inout RetryBudget, into sink: inout Sink,
        progress: (@Sendable (Int64) -> Void)?
    ) async throws {
        var failure: any Error = refusal
        for foreign in urls {
            do {
                let admitted = try gate.admit(foreign, as: .foreignLayer)
                logger.debug(
                    "blob not in the registry; fetching it from its manifest's URL", metadata: ["digest": "\(transfer.digest.short)", "url": "\(admitted)"])
                try await transferAttempts(&transfer, from: admitted, repository: nil, retry: &retry, into: &sink, progress: progress)
                return
            } catch {
                // Bytes already written from one URL are not mixed with another's.
                if transfer.received > 0 { throw error }
                failure = error
            }
        }
        throw failure
    }

    /// The GETs of one source — the registry (`repository` given) or a
    /// foreign URL (nil) — until the blob is whole or the retries are spent.
    private func transferAttempts<Sink: BlobSink>(
        _ transfer: inout BlobTransfer, from url: String, repository: String?, retry: inout RetryBudget, into sink: inout Sink,
        progress: (@Sendable (Int64) -> Void)?
    ) async throws {
        let authentication: RegistryRequest.Authentication = repository.map { .registry(repository: $0) } ?? .anonymous
        try await send(RegistryRequest(.GET, url, authentication: authentication), retry: &retry) { headers in
            if let range = transfer.rangeHeader { headers.replaceOrAdd(name: "Range", value: range) }
        } receive: { response in
            guard try await start(&transfer, response: response, url: url, repository: repository, into: &sink, progress: progress) else { return }
            do {
                try await transfer.read(response.body, into: &sink, progress: progress)
            } catch let error as RegistryError {
                throw error
            } catch {
                try sink.flush()
                try checkDeadline(url: url, last: "\(transfer.received) bytes of \(transfer.what) received")
                // A foreign URL is never asked anything but the blob itself (its size is the manifest's).
                if transfer.knownSize == nil, let repository { transfer.knownSize = try await blobSize(url: url, repository: repository) }
                // Every byte arrived before the connection broke: nothing left to ask for.
                if let knownSize = transfer.knownSize, transfer.received >= knownSize { return }
                logger.debug(
                    "blob transfer interrupted",
                    metadata: ["digest": "\(transfer.digest.short)", "received": "\(transfer.received)", "error": "\(Self.describe(error))"])
                throw TransferInterrupted(failure: (error as? BodyTooSlow)?.failure ?? Self.attemptFailure(error, madeProgress: transfer.progressed))
            }
        }
    }

    /// Reads what an answer's status and headers say of the transfer; false
    /// when everything had arrived already (a 416 naming the length received).
    private func start<Sink: BlobSink>(
        _ transfer: inout BlobTransfer, response: HTTPClientResponse, url: String, repository: String?, into sink: inout Sink,
        progress: (@Sendable (Int64) -> Void)?
    ) async throws -> Bool {
        let contentLength = response.headers.first(name: "Content-Length").flatMap(Int64.init)
        let resuming = transfer.received > 0
        transfer.progressed = false
        switch response.status {
        case .ok:
            if resuming {
                // The registry ignored the range: start over.
                progress?(-transfer.received)
                transfer.restart()
                try sink.restart()
            }
            if transfer.knownSize == nil { transfer.knownSize = contentLength }
        case .partialContent where resuming:
            guard let range = response.headers.first(name: "Content-Range"), range.hasPrefix("bytes \(transfer.received)-") else {
                throw RegistryError.unexpectedStatus(206, url: url, detail: "Content-Range does not start at byte \(transfer.received)")
            }
            if transfer.knownSize == nil { transfer.knownSize = range.split(separator: "/").last.flatMap { Int64($0) } }
        case .rangeNotSatisfiable where resuming:
            // Only when the length could not be learnt: `Content-Range: bytes */LENGTH`
            // says whether everything had arrived. Its body is not read (it may never come).
            let total = response.headers.first(name: "Content-Range").flatMap { $0.split(separator: "/").last }.flatMap { Int64($0) }
            if total == transfer.received { return false }
            throw RegistryError.unexpectedStatus(416, url: url, detail: "the registry has no byte \(transfer.received) of the blob")
        default:
            let digest = transfer.digest
            throw await failure(response, url: url, repository: repository ?? "") { _ in
                .blobUnknown(digest: digest, repository: repository ?? "", registry: self.endpoint.host)
            }
        }
        if let expected = transfer.expectedSize, let contentLength, transfer.received + contentLength != expected {
            throw RegistryError.sizeMismatch(what: transfer.what, expected: expected, actual: transfer.received + contentLength)
        }
        return true
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
                await discardBody(response)
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
        try makeRetryBudget().checkDeadline(url: rebased(url), last: last())
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
