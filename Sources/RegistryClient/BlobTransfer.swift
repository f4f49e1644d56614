import AsyncHTTPClient
import ImageReference
import ImageSpec
import NIOCore

/// The state of one blob's transfer across its attempts: what arrived, its
/// hash so far, and what is known of its length.
struct BlobTransfer {
    let digest: Digest
    /// The size the manifest gives; nil when unknown.
    let expectedSize: Int64?
    /// The length: the manifest's, else learnt from the registry, so that a
    /// resume never asks for a range past the end (distribution answers that
    /// with a 416 whose announced body never comes).
    var knownSize: Int64?
    /// Bytes received and handed to the sink so far.
    private(set) var received: Int64 = 0
    /// Whether the current attempt has received bytes not received before:
    /// a registry that ignores `Range` and stalls at the same byte each time
    /// makes no progress, however much it sends again.
    var progressed = false
    /// The most bytes any attempt has reached.
    private var reached: Int64 = 0
    /// Without verification (a Nix fixed-output build checks the output) nothing is hashed.
    let verify: Bool
    private var hasher: DigestHasher
    private var pace: BodyPace

    init(digest: Digest, expectedSize: Int64?, verify: Bool, pace: BodyPace) {
        self.digest = digest
        self.expectedSize = expectedSize
        knownSize = expectedSize
        self.verify = verify
        self.pace = pace
        hasher = DigestHasher(digest.algorithm)
    }

    /// The blob, as messages name it.
    var what: String { "blob \(digest)" }

    /// The `Range` a resume asks for; nil for a first attempt.
    var rangeHeader: String? {
        guard received > 0 else { return nil }
        return "bytes=\(received)-\(knownSize.map { String($0 - 1) } ?? "")"
    }

    /// Forgets what arrived: the registry sent the blob again from its start.
    mutating func restart() {
        hasher = DigestHasher(digest.algorithm)
        received = 0
    }

    /// Reads a body into `sink`, hashing it; throws ``BodyTooSlow`` when it
    /// trickles, and a size mismatch as soon as it runs past the size.
    mutating func read<Sink: BlobSink>(_ body: HTTPClientResponse.Body, into sink: inout Sink, progress: (@Sendable (Int64) -> Void)?) async throws {
        pace.begin()
        for try await chunk in body {
            let count = Int64(chunk.readableBytes)
            received += count
            if let expectedSize, received > expectedSize {
                throw RegistryError.sizeMismatch(what: what, expected: expectedSize, actual: received)
            }
            if verify { chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) } }
            try sink.write(chunk)
            progress?(count)
            if received > reached {
                reached = received
                progressed = true
            }
            try pace.arrived(count)
        }
        try sink.flush()
    }

    /// The size and digest checked at the end; the bytes received.
    func verified() throws(RegistryError) -> Int64 {
        if let expectedSize, received != expectedSize {
            throw .sizeMismatch(what: what, expected: expectedSize, actual: received)
        }
        guard verify else { return received }
        let actual = hasher.finalize()
        guard actual == digest else { throw .digestMismatch(what: what, expected: digest, actual: actual) }
        return received
    }
}

/// How fast a body arrives, window by window: one that brings fewer than
/// `minimumRate` bytes per second over a whole window (curl's
/// `--speed-limit`/`--speed-time`) trickles, and is treated as a stall —
/// retried once, then abandoned — rather than waited for for hours.
struct BodyPace {
    /// The window, in which at least `minimumRate × window` bytes must arrive.
    let window: Duration
    /// Bytes per second.
    let minimumRate: Int
    private var windowStart: ContinuousClock.Instant = .now
    private var windowBytes: Int64 = 0

    init(window: TimeAmount, minimumRate: Int) {
        self.window = .nanoseconds(window.nanoseconds)
        self.minimumRate = minimumRate
    }

    /// A new body begins.
    mutating func begin() {
        windowStart = .now
        windowBytes = 0
    }

    /// `count` bytes arrived; throws when a whole window brought too few.
    mutating func arrived(_ count: Int64) throws(BodyTooSlow) {
        windowBytes += count
        let elapsed = ContinuousClock.now - windowStart
        let needed = Int64(Double(minimumRate) * (Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18))
        guard elapsed >= window else { return }
        guard windowBytes >= needed else { throw BodyTooSlow(received: windowBytes, window: window, minimumRate: minimumRate) }
        windowStart = .now
        windowBytes = 0
    }
}

/// A body that trickled in slower than the minimum rate for a whole window.
struct BodyTooSlow: Error {
    var received: Int64
    var window: Duration
    var minimumRate: Int

    /// A stall, as the retry budget counts it: retried once, not after two in a row.
    var failure: AttemptFailure {
        AttemptFailure(
            detail: "the body arrived at \(received) bytes in \(window.wholeSeconds) s, slower than \(minimumRate) bytes/s", isStall: true,
            madeProgress: false)
    }
}
