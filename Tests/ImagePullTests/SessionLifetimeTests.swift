import ImagePull
import ImageReference
import RegistryClient
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
        let (asked, delivery) = AsyncStream<Void>.makeStream()
        let started = ContinuousClock.now
        await #expect(throws: TimeLimitReached.self) {
            try await PullSession.run(SessionOptions(maxTime: .milliseconds(200))) { session in
                while ContinuousClock.now - started < .seconds(1) { try? await Task.sleep(for: .milliseconds(50)) }
                _ = session.client(for: RegistryEndpoint(registryName: "127.0.0.1:9"))
                delivery.yield()
                delivery.finish()
            }
        }
        #expect(ContinuousClock.now - started < .seconds(1), "the run waited for work past its deadline")
        for await _ in asked {}
        // The work's end releases the session and, with it, that client: a
        // client still open at that point stops a debug build.
        try await Task.sleep(for: .milliseconds(300))
    }
}
