import ImageReference
import Synchronization

/// The one time limit of a run (`--max-time`): when it ends and how long it
/// was. Every request, retry, wait, mirror probe and credential helper of the
/// run draws from the same deadline, made once when the run starts.
public struct Deadline: Sendable, Hashable {
    /// When the run must be over; nil for no limit.
    public let instant: ContinuousClock.Instant?
    /// The limit as the user gave it, for messages; nil for no limit.
    public let limit: Duration?

    /// No limit.
    public static let none = Deadline(instant: nil, limit: nil)

    private init(instant: ContinuousClock.Instant?, limit: Duration?) {
        self.instant = instant
        self.limit = limit
    }

    /// A deadline `limit` after `start` (default: now); none for a nil limit.
    public init(limit: Duration?, from start: ContinuousClock.Instant = .now) {
        self.init(instant: limit.map { start + $0 }, limit: limit)
    }

    /// The time left; nil when there is no limit, zero once it has passed.
    public var remaining: Duration? {
        instant.map { max(.zero, $0 - ContinuousClock.now) }
    }

    /// Whether the deadline has passed.
    public var hasPassed: Bool {
        instant.map { ContinuousClock.now >= $0 } ?? false
    }

    /// The earlier of this deadline and `duration` from now: a wait that must
    /// end sooner than the run (a mirror probe, a credential helper). The
    /// limit named in messages stays the run's when the run's comes first.
    public func cappedAt(_ duration: Duration) -> Deadline {
        let capped = ContinuousClock.now + duration
        guard let instant, instant <= capped else { return Deadline(instant: capped, limit: duration) }
        return self
    }

    /// Runs `body`, and when the deadline passes first, cancels it and throws
    /// ``TimeLimitReached``: the wait ends at the deadline whatever `body` is
    /// waiting for (a body that trickles, a helper that never answers, a TLS
    /// handshake that ignores cancellation). `body` is given a moment to end
    /// with an error of its own, which says more (the URL it was fetching);
    /// past that it is abandoned, cancelled.
    public func enforce<Result: Sendable>(_ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
        guard let instant else { return try await body() }
        let limit = limit ?? .zero
        let work = Task { try await body() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
                let outcome = FirstOutcome(continuation)
                let timer = Task {
                    try await Task.sleep(until: instant, clock: .continuous)
                    work.cancel()
                    // Its own error (the URL, the bytes received) if it comes at once, else the bare limit.
                    try? await Task.sleep(for: Self.grace)
                    outcome.resume(with: .failure(TimeLimitReached(limit: limit)))
                }
                Task {
                    let result = await work.result
                    // After the deadline, what failed failed because of it (a body cut short by the
                    // cancellation): said as the limit, unless the error already says so with more.
                    if case .failure(let error) = result, ContinuousClock.now >= instant, !Self.namesTheLimit(error) {
                        outcome.resume(with: .failure(TimeLimitReached(limit: limit)))
                    } else {
                        outcome.resume(with: result)
                    }
                    timer.cancel()
                }
            }
        } onCancel: {
            work.cancel()
        }
    }

    /// How long `body` is waited for after it is cancelled at the deadline.
    static let grace: Duration = .milliseconds(200)

    /// Whether an error already says the time limit was reached (and where).
    static func namesTheLimit(_ error: any Error) -> Bool {
        (error as? any UserFacingError)?.reportsTimeLimit ?? false
    }
}

/// The run's time limit passed before it was done.
public struct TimeLimitReached: UserFacingError, Hashable {
    /// The limit, as given.
    public var limit: Duration

    public init(limit: Duration) {
        self.limit = limit
    }

    public var message: String { "the time limit of \(limit.wholeSeconds) s was reached before the run was done" }

    public var hints: [String] { ["allow more time with --max-time, or check the registry and the network"] }

    public var reportsTimeLimit: Bool { true }
}

/// Resumes a continuation with whichever outcome comes first; later ones are dropped.
final class FirstOutcome<Value: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<Value, any Error>?>

    init(_ continuation: CheckedContinuation<Value, any Error>) {
        self.continuation = Mutex(continuation)
    }

    /// True when this was the first outcome.
    @discardableResult
    func resume(with result: Result<Value, any Error>) -> Bool {
        guard let waiting = continuation.withLock({ $0.take() }) else { return false }
        waiting.resume(with: result)
        return true
    }
}
