import ImagePull
import Synchronization
import Testing

/// An interrupt waits for the steps under way and lets no new one start.
@Suite("Interrupt shield")
struct InterruptShieldTests {
    @Test func anInterruptWaitsForTheStepUnderWay() async throws {
        let shield = InterruptShield()
        let steps = Atomic<Int>(0)
        let started = AsyncStream<Void>.makeStream()
        let step = Task {
            try await shield.shielded {
                started.continuation.yield()
                for _ in 0..<3 {
                    try? await Task.sleep(for: .milliseconds(100))
                    steps.add(1, ordering: .relaxed)
                }
            }
        }
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        // As the signal thread does: blocks until the step is over.
        let finished = await Task.detached { shield.holdOff(upTo: .seconds(10)) }.value
        #expect(finished)
        #expect(steps.load(ordering: .relaxed) == 3)
        try await step.value
        await #expect(throws: CancellationError.self) { try await shield.shielded { 1 } }
    }

    @Test func aStepThatNeverEndsIsWaitedForAtMostTheLimit() async throws {
        let shield = InterruptShield()
        let started = AsyncStream<Void>.makeStream()
        let step = Task {
            try await shield.shielded {
                started.continuation.yield()
                try? await Task.sleep(for: .seconds(30))
            }
        }
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        let clock = ContinuousClock()
        let elapsed = await clock.measure { _ = await Task.detached { shield.holdOff(upTo: .milliseconds(200)) }.value }
        #expect(elapsed < .seconds(5))
        step.cancel()
    }
}
