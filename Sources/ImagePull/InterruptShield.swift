#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Short steps that an interrupt lets finish before the process ends:
/// the names of one image, set one request each, so that Ctrl-C cannot
/// leave an image with some of its names and not the others.
///
/// The signal handler's thread calls ``holdOff(upTo:)`` before it cleans
/// up and exits: it waits for the steps under way, and no step starts
/// after it. A second signal still ends the process at once.
public final class InterruptShield: Sendable {
    private let state = Mutex((running: 0, interrupted: false))

    public init() {}

    /// Runs `body` to its end even if an interrupt arrives meanwhile.
    ///
    /// - Throws: `CancellationError` without running `body` when the
    ///   process is already being interrupted.
    public func shielded<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
        let entered = state.withLock { state in
            guard !state.interrupted else { return false }
            state.running += 1
            return true
        }
        guard entered else { throw CancellationError() }
        defer { state.withLock { $0.running -= 1 } }
        return try await body()
    }

    /// Called on an interrupt, from the thread that handles it: no step
    /// starts from now on, and those under way are waited for, at most
    /// `limit` (a daemon that stopped answering does not keep the process).
    /// Returns whether they all finished.
    @discardableResult
    public func holdOff(upTo limit: Duration) -> Bool {
        let end = ContinuousClock.now + limit
        while true {
            let running = state.withLock { state in
                state.interrupted = true
                return state.running
            }
            if running == 0 { return true }
            if ContinuousClock.now >= end { return false }
            usleep(5_000)
        }
    }
}
