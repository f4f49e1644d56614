import ImagePull
import ImageReference
import RegistryClient
import Synchronization
import Testing

/// What a session's end means for work it could not wait for.
@Suite("Pull session: its end")
struct SessionLifetimeTests {
    /// Work that outlives the deadline (a library call that does not look at
    /// cancellation) may still ask the session for a client after the session
    /// closed its clients. It gets one already shut down: a client left open
    /// would never be closed (in a debug build, AsyncHTTPClient stops the
    /// process when such a client is released).
    @Test("a client asked for after the deadline is shut down with the session")
    func clientAfterTheDeadline() async throws {
        let closed = Gate()
        let (asked, delivery) = AsyncStream<Void>.makeStream()
        await #expect(throws: TimeLimitReached.self) {
            try await PullSession.run(SessionOptions(maxTime: .milliseconds(200))) { session in
                // Work that goes on after its cancellation until the session has closed.
                await closed.passed()
                _ = session.client(for: RegistryEndpoint(registryName: "127.0.0.1:9"))
                delivery.yield()
                delivery.finish()
            }
        }
        closed.open()
        for await _ in asked {}
        // The work's end releases the session and, with it, that client: a
        // client still open at that point stops a debug build.
        try await Task.sleep(for: .milliseconds(300))
    }
}

/// Waiting that cancellation does not end: passed once opened.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func passed() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if !state.open { state.waiting.append(continuation) }
                return state.open
            }
            if now { continuation.resume() }
        }
    }

    func open() {
        let waiting = state.withLock { state in
            state.open = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}
