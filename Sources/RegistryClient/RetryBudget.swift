import NIOCore

/// One failed attempt: what went wrong, whether another attempt may cure
/// it, and how long the server asked to wait.
struct AttemptFailure: Sendable, CustomStringConvertible {
    /// The HTTP status, when the server answered.
    var status: Int?
    /// The server's error summary, or what the connection did.
    var detail: String
    /// Whether another attempt could help at all.
    var retryable = true
    /// The server's `Retry-After`.
    var retryAfter: Duration?
    /// Whether the attempt waited in vain for bytes (a connect or read timeout).
    var isStall = false
    /// Whether the attempt received bytes before it failed.
    var madeProgress = false

    var description: String {
        guard let status else { return detail }
        return "HTTP \(status)\(detail.isEmpty ? "" : " \(detail)")"
    }
}

/// The retries one operation — a manifest, a blob, a token — may still make.
///
/// Two bounds apply: `--retries` failed attempts (a blob's resumes included:
/// they share one budget), and the run's deadline (`--max-time`), which no
/// retry, and no wait before one, may pass.
///
/// Only failures that another attempt may cure are retried: connection
/// errors, 429 and 500/502/503/504. A 400, 401, 403 or 404 is an answer, not
/// a failure (a 401 is answered in `send`, once for each new challenge).
struct RetryBudget: Sendable {
    let configuration: RegistryClientConfiguration
    /// When the run must be over.
    var deadline: ContinuousClock.Instant? { configuration.deadline.instant }
    /// Failed attempts so far.
    private(set) var failures = 0
    /// Attempts made in all, for messages.
    private(set) var attempts = 0
    /// What went wrong last, for messages.
    private(set) var lastFailure: AttemptFailure?
    /// Stalls in a row with nothing received in between.
    private var stallsWithoutProgress = 0

    init(configuration: RegistryClientConfiguration) {
        self.configuration = configuration
    }

    /// HTTP statuses that say "try again later".
    static func isRetryable(status: UInt) -> Bool {
        [429, 500, 502, 503, 504].contains(status)
    }

    /// Counts an attempt about to be made.
    mutating func attempt() { attempts += 1 }

    /// Takes back the count of an attempt that only found out the registry
    /// speaks plain http (it is made again at once, over http).
    mutating func withdrawAttempt() { attempts -= 1 }

    /// Records a failure of `url` and returns how long to wait before the next
    /// attempt, or throws when no attempt is left: when the failure is final,
    /// `--retries` is spent, or the wait would pass the deadline.
    /// `Retry-After` is honoured up to `maxRetryDelay`.
    mutating func failed(url: String, _ failure: AttemptFailure) throws(RegistryError) -> Duration {
        failures += 1
        lastFailure = failure
        let last = failure.description
        stallsWithoutProgress = failure.isStall && !failure.madeProgress ? stallsWithoutProgress + 1 : 0
        // A server that keeps accepting and never sends is not waited for `retries` times over.
        guard failure.retryable, failures <= configuration.retries, stallsWithoutProgress < 2 else {
            // Said, so that "attempt 2 of 6" before it does not read as a miscount.
            let reason = stallsWithoutProgress >= 2 ? "\(last), twice in a row (a stall is retried once)" : last
            throw attempts > 1 ? .gaveUp(url: url, attempts: attempts, last: reason) : .transport(url: url, detail: reason)
        }
        var delay = backoff(failure: failures)
        if let retryAfter = failure.retryAfter {
            if let deadline, ContinuousClock.now + min(retryAfter, configuration.maxRetryDelay) >= deadline {
                throw .timeLimitReached(url: url, limit: configuration.deadline.limit ?? .zero, last: "\(last); the registry asked to wait \(retryAfter.wholeSeconds) s")
            }
            delay = min(max(retryAfter, .zero), configuration.maxRetryDelay)
        }
        if let deadline, ContinuousClock.now + delay >= deadline {
            throw .timeLimitReached(url: url, limit: configuration.deadline.limit ?? .zero, last: last)
        }
        return delay
    }

    /// Throws once the deadline has passed, naming the last failure when there was one.
    func checkDeadline(url: String, last: @autoclosure () -> String) throws(RegistryError) {
        if let deadline, ContinuousClock.now >= deadline {
            throw .timeLimitReached(url: url, limit: configuration.deadline.limit ?? .zero, last: lastFailure?.description ?? last())
        }
    }

    /// How long a single request may take: its own limit, or less when the deadline is nearer.
    var requestTimeout: TimeAmount {
        guard let deadline else { return configuration.requestDeadline }
        let remaining = deadline - ContinuousClock.now
        let nanoseconds = remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000
        return .nanoseconds(max(1, min(configuration.requestDeadline.nanoseconds, nanoseconds)))
    }

    /// Exponential backoff with jitter (50–100 % of the step), capped.
    func backoff(failure: Int) -> Duration {
        let base = configuration.retryBaseDelay * (1 << min(failure - 1, 10))
        let capped = min(base, configuration.maxRetryDelay)
        return capped * Double.random(in: 0.5...1.0)
    }
}

extension Duration {
    /// Whole seconds, rounded up, for messages.
    public var wholeSeconds: Int64 {
        let (seconds, attoseconds) = components
        return attoseconds > 0 ? seconds + 1 : seconds
    }

    /// Seconds for messages: to a tenth under 10 s ("2.5"), whole above ("12").
    public var shortSeconds: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        let tenths = Int((seconds * 10).rounded())
        return seconds < 10 ? "\(tenths / 10).\(tenths % 10)" : String(Int(seconds.rounded()))
    }
}
