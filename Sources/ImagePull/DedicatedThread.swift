#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A thread of its own, outside the concurrency pool, for work that blocks:
/// a write to a pipe whose reader is slow, a read of the signal pipe. A
/// blocked cooperative thread would hold up every task of the run.
public enum DedicatedThread {
    /// Starts `body` on a new, detached thread.
    public static func start(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Work(body: body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let work = Unmanaged<Work>.fromOpaque(argument).takeRetainedValue()
            work.body()
            return nil
        }, box)
        guard created == 0 else {
            // No thread: the work runs here rather than not at all.
            Unmanaged<Work>.fromOpaque(box).takeRetainedValue().body()
            return
        }
        pthread_detach(thread)
    }

    /// Runs `work` on a new thread and waits for its result: a blocking
    /// write or read that must not hold a thread of the concurrency pool.
    public static func run<Result: Sendable, Failure: Error>(
        _ work: @escaping @Sendable () throws(Failure) -> Result
    ) async throws(Failure) -> Result {
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Swift.Result<Result, Failure>, Never>) in
            start { continuation.resume(returning: Swift.Result { () throws(Failure) -> Result in try work() }) }
        }
        return try outcome.get()
    }

    private final class Work: Sendable {
        let body: @Sendable () -> Void

        init(body: @escaping @Sendable () -> Void) {
            self.body = body
        }
    }
}
