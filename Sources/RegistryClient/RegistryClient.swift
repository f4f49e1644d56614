import AsyncHTTPClient
import Foundation
import ImageReference
import Logging
import NIOCore
import NIOHTTP1
import NIOFoundationCompat
import NIOPosix
import struct SystemPackage.Errno
import struct SystemPackage.FileDescriptor

/// A client for one registry's Distribution API v2: manifests as raw bytes,
/// blobs streamed to disk and verified, authentication answered as the
/// registry challenges. One instance per run; call `shutdown()` when done.
public final class RegistryClient: Sendable {
    public let endpoint: RegistryEndpoint
    public let configuration: RegistryClientConfiguration
    let http: HTTPClient
    let auth: AuthSession
    let logger: Logger
    /// When `configuration.maxTime` runs out: no request or retry goes past it.
    let deadline: ContinuousClock.Instant?

    /// - Parameters:
    ///   - endpoint: where the registry's API is.
    ///   - credentials: where credentials come from; nil for anonymous.
    ///   - logger: requests are logged at `debug`, with secrets left out.
    public init(endpoint: RegistryEndpoint, credentials: CredentialResolver?, configuration: RegistryClientConfiguration = .init(), logger: Logger = Logger(label: "hocker")) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.logger = logger
        deadline = configuration.maxTime.map { ContinuousClock.now + $0 }
        http = HTTPClientFactory.make(for: endpoint, configuration: configuration)
        auth = AuthSession(endpoint: endpoint, resolver: credentials, http: http, configuration: configuration, deadline: deadline, logger: logger)
    }

    /// Closes the connections. Must be called before the client goes away.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Manifests

    /// Fetches the manifest `reference` (a tag or digest) of `repository`,
    /// keeping the exact bytes. They are verified against the digest when
    /// `reference` is one, else against `Docker-Content-Digest` when the
    /// registry sends it.
    public func fetchManifest(repository: String, reference: String) async throws -> FetchedManifest {
        let url = endpoint.v2URL + repository + "/manifests/" + reference
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: MediaType.acceptAnyManifest)
        var retry = makeRetryBudget()
        var response: HTTPClientResponse
        var body: ByteBuffer
        // A connection that breaks while the body is read is retried like one that fails to connect.
        while true {
            response = try await send(.GET, url: url, headers: headers, repository: repository, retry: &retry)
            guard response.status == .ok else {
                let error = await failure(response, url: url, repository: repository, notFound: { code in
                    code == "NAME_UNKNOWN"
                        ? .repositoryUnknown(repository: repository, registry: self.endpoint.host)
                        : .manifestUnknown(repository: repository, reference: reference, registry: self.endpoint.host)
                })
                if case .manifestUnknown = error, await !repositoryExists(repository) {
                    throw RegistryError.repositoryUnknown(repository: repository, registry: endpoint.host)
                }
                throw error
            }
            let limit = configuration.maxManifestBytes
            if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > limit {
                throw RegistryError.manifestTooLarge(limit: limit)
            }
            do {
                body = try await response.body.collect(upTo: limit)
                break
            } catch is NIOTooManyBytesError {
                throw RegistryError.manifestTooLarge(limit: limit)
            } catch {
                let delay = try retry.failed(url: url, last: Self.describe(error), retryable: Self.isRetryable(error))
                logger.debug("manifest transfer interrupted, retrying", metadata: ["url": "\(url)", "error": "\(Self.describe(error))"])
                try await Task.sleep(for: delay)
            }
        }
        let bytes = Data(buffer: body)
        let actual = BlobHasher.digest(of: bytes, algorithm: .sha256)
        if let pinned = try? Digest(parsing: reference) {
            try Self.verify(bytes, sha256: actual, against: pinned, what: "manifest \(repository)@\(pinned)")
        } else if let header = response.headers.first(name: "Docker-Content-Digest"), let served = try? Digest(parsing: header) {
            try Self.verify(bytes, sha256: actual, against: served, what: "manifest \(repository):\(reference)")
        }
        return try FetchedManifest(bytes: bytes, contentType: response.headers.first(name: "Content-Type"), digest: actual)
    }

    /// Whether the registry knows `repository`, asked through the tag list:
    /// distribution answers an unknown repository's manifest with
    /// MANIFEST_UNKNOWN, but its tag list with NAME_UNKNOWN. Unsure means yes.
    func repositoryExists(_ repository: String) async -> Bool {
        let url = endpoint.v2URL + repository + "/tags/list?n=1"
        guard let response = try? await send(.GET, url: url, headers: [:], repository: repository) else { return true }
        let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
        return !(response.status == .notFound && Self.registryErrors(body).contains { $0.code == "NAME_UNKNOWN" })
    }

    /// The result of resolving a reference to an image manifest.
    public struct ResolvedImage: Sendable {
        /// The index the reference named, when it named one.
        public var index: FetchedManifest?
        /// The image manifest for the platform.
        public var manifest: FetchedManifest
        public var image: ImageManifest
        /// The platform chosen from the index, when there was one.
        public var platform: Platform?
    }

    /// Fetches `reference` and, when it is an index, the manifest in it for
    /// `platform`. The error for a platform the index lacks lists the ones it has.
    public func resolveImage(repository: String, reference: String, platform: Platform) async throws -> ResolvedImage {
        // One platform asked: exactly one image, or `entries(for:)` has thrown.
        try await resolveImages(repository: repository, reference: reference, selection: .platforms([platform])).images[0]
    }

    /// Images resolved from one reference: the index, if it named one, and
    /// an image manifest for each platform picked from it.
    public struct ResolvedImages: Sendable {
        /// The index the reference named, when it named one.
        public var index: FetchedManifest?
        /// One per platform picked, in the order of the selection; the single
        /// image when the reference named an image manifest.
        public var images: [ResolvedImage]
    }

    /// Fetches `reference` and, when it is an index, the image manifest of
    /// every entry `selection` picks. An image manifest is returned as it
    /// is, whatever the selection: it says nothing of its platform.
    public func resolveImages(repository: String, reference: String, selection: PlatformSelection) async throws -> ResolvedImages {
        let top = try await fetchManifest(repository: repository, reference: reference)
        switch top.content {
        case .image(let image):
            return ResolvedImages(index: nil, images: [ResolvedImage(index: nil, manifest: top, image: image, platform: nil)])
        case .index(let index):
            let name = endpoint.host + "/" + RegistryError.imageName(repository, reference)
            var images: [ResolvedImage] = []
            for entry in try index.entries(for: selection, reference: name) {
                let child = try await fetchManifest(repository: repository, reference: entry.digest.description)
                guard let image = child.imageManifest else {
                    let which = entry.platform?.platform.description ?? entry.digest.description
                    throw RegistryError.invalidManifest("the index entry for \(which) is itself an index")
                }
                images.append(ResolvedImage(index: top, manifest: child, image: image, platform: entry.platform?.platform))
            }
            return ResolvedImages(index: top, images: images)
        }
    }

    // MARK: Blobs

    /// Streams blob `digest` of `repository` into `file` starting at byte
    /// `offset`, hashing on the way. Verifies the size (when known) and the
    /// digest; an interrupted transfer resumes with `Range`.
    ///
    /// - Parameter progress: called with the number of new bytes after each chunk
    ///   (negative when a transfer restarts from zero).
    /// - Returns: the number of bytes written.
    @discardableResult
    public func fetchBlob(
        repository: String, digest: Digest, size expectedSize: Int64?, into file: FileDescriptor, at offset: Int64 = 0,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> Int64 {
        let url = endpoint.v2URL + repository + "/blobs/" + digest.description
        let what = "blob \(digest)"
        var hasher = BlobHasher(digest.algorithm)
        var received: Int64 = 0
        // The blob's length: the manifest's, else learnt from the registry, so that
        // a resume never asks for a range past the end (distribution answers that
        // with a 416 whose announced body never comes).
        var knownSize = expectedSize
        // One retry budget for every request of this blob, resumes included.
        var retry = makeRetryBudget()
        var writer = ChunkWriter(file: file, offset: offset)
        transfer: while true {
            var headers = HTTPHeaders()
            let resuming = received > 0
            if resuming {
                if knownSize == nil { knownSize = try await blobSize(url: url, repository: repository, retry: &retry) }
                // Every byte arrived before the connection broke: nothing left to ask for.
                if let knownSize, received >= knownSize { break transfer }
                headers.add(name: "Range", value: "bytes=\(received)-")
            }
            let response = try await send(.GET, url: url, headers: headers, repository: repository, retry: &retry)
            let contentLength = response.headers.first(name: "Content-Length").flatMap(Int64.init)
            switch response.status {
            case .ok:
                if resuming {
                    // The registry ignored the range: start over.
                    progress?(-received)
                    hasher = BlobHasher(digest.algorithm)
                    received = 0
                    writer = ChunkWriter(file: file, offset: offset)
                }
                if knownSize == nil { knownSize = contentLength }
            case .partialContent where resuming:
                guard let range = response.headers.first(name: "Content-Range"), range.hasPrefix("bytes \(received)-") else {
                    throw RegistryError.unexpectedStatus(206, url: url, detail: "Content-Range does not start at byte \(received)")
                }
                if knownSize == nil { knownSize = range.split(separator: "/").last.flatMap { Int64($0) } }
            case .rangeNotSatisfiable where resuming:
                // Only when the length could not be learnt: `Content-Range: bytes */LENGTH`
                // says whether everything had arrived. Its body is not read (it may never come).
                let total = response.headers.first(name: "Content-Range").flatMap { $0.split(separator: "/").last }.flatMap { Int64($0) }
                if total == received { break transfer }
                throw RegistryError.unexpectedStatus(416, url: url, detail: "the registry has no byte \(received) of the blob")
            default:
                throw await failure(response, url: url, repository: repository, notFound: { _ in
                    .blobUnknown(digest: digest, repository: repository, registry: self.endpoint.host)
                })
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
                    try retry.checkDeadline(url: url, last: "\(received) bytes of \(what) received")
                    chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                    try writer.append(chunk)
                    progress?(Int64(chunk.readableBytes))
                }
                try writer.flush()
                break
            } catch let error as RegistryError {
                throw error
            } catch let error as Errno {
                throw RegistryError.io(path: "output", detail: "\(error)")
            } catch {
                try writer.flush()
                let delay = try retry.failed(url: url, last: Self.describe(error), retryable: Self.isRetryable(error))
                logger.debug("blob transfer interrupted, resuming", metadata: ["digest": "\(digest.short)", "received": "\(received)", "error": "\(Self.describe(error))"])
                try await Task.sleep(for: delay)
            }
        }
        if let expectedSize, received != expectedSize {
            throw RegistryError.sizeMismatch(what: what, expected: expectedSize, actual: received)
        }
        let actual = hasher.finalize()
        guard actual == digest else {
            throw RegistryError.digestMismatch(what: what, expected: digest, actual: actual)
        }
        return received
    }

    /// The length of a blob, asked with `HEAD`; nil when the registry does not say.
    private func blobSize(url: String, repository: String, retry: inout RetryBudget) async throws -> Int64? {
        let response = try await send(.HEAD, url: url, headers: [:], repository: repository, retry: &retry)
        guard response.status == .ok else { return nil }
        return response.headers.first(name: "Content-Length").flatMap(Int64.init)
    }

    // MARK: Requests

    /// A fresh retry budget for one operation, bounded by `--retries` and the deadline.
    func makeRetryBudget() -> RetryBudget {
        RetryBudget(configuration: configuration, deadline: deadline)
    }

    /// Sends a request with a retry budget of its own; see `send(_:url:headers:repository:retry:)`.
    func send(_ method: HTTPMethod, url: String, headers: HTTPHeaders, repository: String) async throws -> HTTPClientResponse {
        var retry = makeRetryBudget()
        return try await send(method, url: url, headers: headers, repository: repository, retry: &retry)
    }

    /// Sends a request, answering an authentication challenge once and
    /// retrying connection errors, 429 and 500/502/503/504 with backoff while
    /// `retry` allows (`Retry-After` honoured, capped). Any other answer —
    /// 400, a second 401, 403, 404 — is returned or thrown at once.
    func send(_ method: HTTPMethod, url: String, headers: HTTPHeaders, repository: String, retry: inout RetryBudget) async throws -> HTTPClientResponse {
        var reauthenticated = false
        while true {
            try retry.checkDeadline(url: url, last: "no attempt left in time")
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers = headers
            request.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
            let authorization = try await auth.authorization(for: repository)
            if let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
            retry.attempt()
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: retry.requestTimeout)
            } catch {
                if case .deadlineExceeded? = error as? HTTPClientError { try retry.checkDeadline(url: url, last: "no answer in time") }
                let delay = try retry.failed(url: url, last: Self.describe(error), retryable: Self.isRetryable(error))
                logger.debug("request failed, retrying", metadata: ["url": "\(url)", "error": "\(Self.describe(error))", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
                continue
            }
            // The credential itself is never logged, only its scheme.
            logger.debug("\(method) \(url) → \(response.status.code)", metadata: authorization.map { ["authorization": "\($0.prefix { $0 != " " }) \(SecretRedactor.mask)"] } ?? [:])
            switch response.status.code {
            case 401:
                _ = try? await response.body.collect(upTo: 64 * 1024)
                guard !reauthenticated else {
                    throw RegistryError.unauthorized(
                        repository: repository, registry: endpoint.host, detail: "access denied after authenticating",
                        hadCredentials: await auth.hasCredential(for: repository))
                }
                reauthenticated = true
                let challenges = response.headers["WWW-Authenticate"].flatMap(AuthChallenge.parse)
                try await auth.authenticate(challenges: challenges, repository: repository, rejected: authorization)
            case let code where RetryBudget.isRetryable(status: code):
                let detail = Self.errorSummary((try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer())
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter)
                let delay = try retry.failed(url: url, last: "HTTP \(code)\(detail.isEmpty ? "" : " \(detail)")", retryAfter: retryAfter)
                logger.debug("HTTP \(code), retrying", metadata: ["url": "\(url)", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
            default:
                return response
            }
        }
    }

    /// The error for a response that is not a success.
    private func failure(
        _ response: HTTPClientResponse, url: String, repository: String, notFound: (String?) -> RegistryError
    ) async -> RegistryError {
        let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
        let errors = Self.registryErrors(body)
        switch response.status.code {
        case 404:
            return notFound(errors.first?.code)
        case 403:
            return .denied(repository: repository, registry: endpoint.host, detail: Self.errorSummary(body))
        default:
            return .unexpectedStatus(Int(response.status.code), url: url, detail: Self.errorSummary(body))
        }
    }

    struct RegistryErrorBody: Decodable {
        struct Item: Decodable {
            var code: String?
            var message: String?
        }
        var errors: [Item]?
    }

    static func registryErrors(_ body: ByteBuffer) -> [RegistryErrorBody.Item] {
        (try? JSONDecoder().decode(RegistryErrorBody.self, from: Data(buffer: body)))?.errors ?? []
    }

    /// A short text for an error body: the registry's error messages, or the start of the body.
    static func errorSummary(_ body: ByteBuffer) -> String {
        let items = registryErrors(body)
        if !items.isEmpty {
            return items.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ")
        }
        let text = String(decoding: body.readableBytesView.prefix(200), as: UTF8.self)
        return text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f }.map(String.init).joined()
    }

    /// Checks `bytes` against `expected`; their SHA-256, already computed, is not computed again.
    static func verify(_ bytes: Data, sha256: Digest, against expected: Digest, what: String) throws(RegistryError) {
        let actual = expected.algorithm == sha256.algorithm ? sha256 : BlobHasher.digest(of: bytes, algorithm: expected.algorithm)
        guard actual == expected else { throw .digestMismatch(what: what, expected: expected, actual: actual) }
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) { return .seconds(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .milliseconds(Int64(date.timeIntervalSinceNow * 1000))
    }

    static func isRetryable(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        if let clientError = error as? HTTPClientError {
            let final: [HTTPClientError] = [
                .cancelled, .invalidURL, .emptyHost, .emptyScheme, .redirectLimitReached, .redirectCycleDetected, .deadlineExceeded,
            ]
            return !final.contains(clientError)
        }
        return true
    }

    static func describe(_ error: any Error) -> String {
        if let clientError = error as? HTTPClientError {
            let known: [(HTTPClientError, String)] = [
                (.readTimeout, "no data for too long (read timeout)"),
                (.connectTimeout, "connection timed out"),
                (.remoteConnectionClosed, "the server closed the connection"),
                (.redirectCycleDetected, "the registry redirected in a loop"),
                (.redirectLimitReached, "more than 10 redirects"),
            ]
            return known.first { $0.0 == clientError }?.1 ?? "\(clientError)"
        }
        if let connectionError = error as? NIOConnectionError, let first = connectionError.connectionErrors.first {
            return describe(first.error)
        }
        if let ioError = error as? IOError { return String(cString: strerror(ioError.errnoCode)).lowercased() }
        if let parserError = error as? HTTPParserError, parserError == .invalidEOFState {
            return "the connection closed before the whole body arrived"
        }
        return String(describing: error)
    }
}

/// Gathers body chunks, without copying them, into one `pwritev` of about
/// 1 MiB at increasing offsets: far fewer syscalls than a write per network
/// chunk, and no copy into an intermediate buffer.
struct ChunkWriter {
    let file: FileDescriptor
    private(set) var offset: Int64
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    static let threshold = 1 << 20

    init(file: FileDescriptor, offset: Int64) {
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
            offset += Int64(written)
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
                let result = pwritev(file.rawValue, vectors.baseAddress, Int32(vectors.count), off_t(offset))
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
