import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Bodies that break, stall, trickle or lie, against the in-process
/// registry: resumed with `Range` and verified, retried once after a stall,
/// refused when the bytes are not the digest's.
@Suite("In-process registry: transfers", .timeLimit(.minutes(1)))
struct InProcessTransferTests {
    static func fetchLayer(_ bed: InProcessBed, configure: (inout RegistryClientConfiguration) -> Void = { _ in }) async throws -> Data {
        let layer = bed.image.single.layers[0]
        return try await bed.withClient { client in
            try await client.fetchBlobBytes(try InProcessBed.descriptor(layer), of: try bed.reference(), limit: 1 << 20)
        } configure: { configure(&$0) }
    }

    /// A body cut after N bytes: the rest asked for with `Range: bytes=N-END`,
    /// and only the rest served, the whole verified against its digest.
    @Test(arguments: [1, 65_536, 100_000, ImageFixture.small.single.layers[0].size - 1])
    func cutBodyResumed(after bytes: Int) async throws {
        try await InProcessBed.run { bed in
            let layer = bed.image.single.layers[0]
            bed.registry.add(.blobGETs, .cutBody(after: bytes), times: 1)
            let fetched = try await Self.fetchLayer(bed)
            #expect(fetched == layer.bytes)
            let gets = bed.registry.requests(.blobGETs)
            #expect(gets.count == 2)
            #expect(gets.first?.bodyBytes == bytes)
            // From what arrived: all that was sent, unless the client had not read it all when the connection closed.
            let start = try #require(Self.resumedAt(gets.last))
            #expect(start > 0 && start <= bytes)
            #expect(gets.last?.header("Range") == "bytes=\(start)-\(layer.size - 1)")
            #expect(gets.last?.status == 206 && gets.last?.bodyBytes == layer.size - start)
            #expect(bed.notices.all.count == 1)
        }
    }

    /// Cut twice, at the start and in the middle: resumed each time from where it stopped.
    @Test func cutTwiceResumedTwice() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .cutBody(after: 50_000), times: 2)
            let fetched = try await Self.fetchLayer(bed)
            #expect(fetched == bed.image.single.layers[0].bytes)
            let gets = bed.registry.requests(.blobGETs)
            #expect(gets.count == 3)
            #expect(gets.first?.header("Range") == nil)
            let starts = gets.dropFirst().compactMap(Self.resumedAt)
            #expect(starts.count == 2)
            #expect(starts.first.map { $0 > 0 && $0 <= 50_000 } == true && starts.last.map { $0 > starts[0] && $0 <= starts[0] + 50_000 } == true, "\(starts)")
        }
    }

    /// Where a resumed request starts: `N` of its `Range: bytes=N-…`; nil for none.
    static func resumedAt(_ request: SeenRequest?) -> Int? {
        request?.header("Range").flatMap { Int($0.dropFirst("bytes=".count).prefix { $0 != "-" }) }
    }

    /// A resume the registry answers with the whole blob (200): started over, not appended.
    @Test func rangeIgnoredStartsOver() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .cutBody(after: 70_000), times: 1)
            bed.registry.add(.blobGETs, .ignoreRange, times: 1)
            let fetched = try await Self.fetchLayer(bed)
            #expect(fetched == bed.image.single.layers[0].bytes)
            #expect(bed.registry.requests(.blobGETs).map(\.status) == [200, 200])
        }
    }

    /// A stall — headers then nothing, or nothing at all — is retried once;
    /// a second in a row ends the fetch, saying so, in about twice the read
    /// timeout (1 s here).
    @Test(arguments: ["headers then nothing", "nothing at all"])
    func stallRetriedOnceThenGivenUp(_ how: String) async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, how == "nothing at all" ? .stallBeforeHeaders() : .stallBody(after: 0))
            let start = ContinuousClock.now
            let error = await thrownError { try await Self.fetchLayer(bed) { $0.readTimeout = .seconds(1) } }
            let elapsed = ContinuousClock.now - start
            guard case .gaveUp(_, let attempts, let last)? = error as? RegistryError else {
                Issue.record("expected gaveUp, got \(String(describing: error))")
                return
            }
            #expect(attempts == 2)
            #expect(last.contains("twice in a row"))
            // The retry reached the registry (on a machine loaded enough, it too can stall before it does).
            #expect((1...2).contains(bed.registry.requests(.blobGETs).count))
            // Two read timeouts of 1 s and a retry delay; generous for a loaded machine.
            #expect(elapsed < .seconds(8))
        }
    }

    /// A stall once, mid-body or before any byte, is survived: the next
    /// attempt resumes or starts the body.
    @Test(arguments: [0, 120_000])
    func stallOnceSurvived(after bytes: Int) async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .stallBody(after: bytes), times: 1)
            let fetched = try await Self.fetchLayer(bed) { $0.readTimeout = .seconds(3) }
            #expect(fetched == bed.image.single.layers[0].bytes)
            let gets = bed.registry.requests(.blobGETs)
            #expect(gets.count == 2)
            // Resumed from the stall; a machine loaded enough that nothing had arrived by then starts over.
            if let range = gets.last?.header("Range") {
                #expect(range == "bytes=\(bytes)-\(bed.image.single.layers[0].size - 1)")
            }
        }
    }

    /// A `Content-Length` that is not the descriptor's size: refused at once,
    /// before the body is read.
    @Test(arguments: [-10, 10])
    func lyingContentLengthRefused(by difference: Int) async throws {
        try await InProcessBed.run { bed in
            let size = bed.image.single.layers[0].size
            bed.registry.add(.blobGETs, .contentLength(size + difference))
            let error = await thrownError { try await Self.fetchLayer(bed) }
            guard case .sizeMismatch(_, let expected, let actual)? = error as? RegistryError else {
                Issue.record("expected sizeMismatch, got \(String(describing: error))")
                return
            }
            #expect(expected == Int64(size) && actual == Int64(size + difference))
        }
    }

    /// A manifest whose `Content-Length` promises more than comes: the
    /// short body is an interrupted transfer, asked again.
    @Test func shortManifestAskedAgain() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.manifestGETs, .contentLength(bed.image.top.size + 100), times: 1)
            let document = try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) }
            #expect(document.digest.description == bed.image.top.digest)
            #expect(bed.registry.requests(.manifestGETs).count == 2)
        }
    }

    /// Bytes that are not the digest's: refused, naming both digests, and
    /// not asked again.
    @Test(arguments: [0, 100_000])
    func corruptBlobRefused(at offset: Int) async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .corruptByte(at: offset))
            let error = await thrownError { try await Self.fetchLayer(bed) }
            guard case .digestMismatch(_, let expected, _)? = error as? RegistryError else {
                Issue.record("expected digestMismatch, got \(String(describing: error))")
                return
            }
            #expect(expected.description == bed.image.single.layers[0].digest)
            #expect(bed.registry.requests(.blobGETs).count == 1)
        }
    }

    /// `--max-time` ends a body that stops mid-way, within the limit, not at
    /// the read timeout: the run's ``Deadline`` enforced around the work, as
    /// a pull session does.
    @Test func maxTimeEndsAStalledBody() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .stallBody(after: 100_000))
            let (error, elapsed) = await Self.underDeadline(.seconds(1)) { deadline in
                try await Self.fetchLayer(bed) {
                    $0.readTimeout = .seconds(5)
                    $0.deadline = deadline
                }
            }
            #expect(Self.namesTheLimit(error), "got \(String(describing: error))")
            // Asked once (or, on a machine loaded enough, not even that before the limit).
            #expect(bed.registry.requests(.blobGETs).count <= 1)
            // The limit plus the moment the work is given to end, with room for a loaded machine; without the
            // limit the stall would take two read timeouts of 5 s.
            #expect(elapsed < .seconds(5))
        }
    }

    /// A body that trickles, a byte every 0.15 s (never long enough apart
    /// for the read timeout, and a minimum rate of 1 byte/s that it meets;
    /// 30 s in all), is ended by `--max-time`.
    @Test func maxTimeEndsATrickle() async throws {
        try await InProcessBed.run { bed in
            let blob = FixtureBlob(pseudoRandomBytes(count: 200, seed: "trickle"), mediaType: "application/octet-stream")
            bed.registry.putBlob(blob)
            bed.registry.add(.blobGETs, .trickle(bytes: 1, every: .milliseconds(150)))
            let (error, elapsed) = await Self.underDeadline(.seconds(1)) { deadline in
                try await bed.withClient { client in
                    try await client.fetchBlobBytes(try InProcessBed.descriptor(blob), of: try bed.reference())
                } configure: {
                    $0.deadline = deadline
                    $0.minimumRate = 1
                }
            }
            #expect(Self.namesTheLimit(error), "got \(String(describing: error))")
            #expect(elapsed < .seconds(5))
            #expect(bed.registry.requests(.blobGETs).count <= 1)
        }
    }

    /// A body slower than the minimum rate over a whole window of the read
    /// timeout (2 s here) counts as a stall: retried once, from where it
    /// stopped, then abandoned, the error naming the rate.
    @Test func bodyBelowMinimumRateRetriedOnceThenAbandoned() async throws {
        try await InProcessBed.run { bed in
            // About 20 KB/s, steady enough never to trip the read timeout; the minimum is 100 KB/s.
            bed.registry.add(.blobGETs, .trickle(bytes: 2_000, every: .milliseconds(100)))
            let start = ContinuousClock.now
            let error = await thrownError {
                try await Self.fetchLayer(bed) {
                    $0.readTimeout = .seconds(2)
                    $0.minimumRate = 100_000
                }
            }
            let elapsed = ContinuousClock.now - start
            guard case .gaveUp(_, let attempts, let last)? = error as? RegistryError else {
                Issue.record("expected gaveUp, got \(String(describing: error))")
                return
            }
            #expect(attempts == 2)
            #expect(last.contains("slower than 100000 bytes/s"))
            #expect(last.contains("twice in a row"))
            let gets = bed.registry.requests(.blobGETs)
            #expect(gets.count == 2)
            // The second attempt resumes after what the first received, at most what was sent of it (on a machine
            // loaded enough for the first attempt's headers to come late, it starts over).
            if let resumedAt = Self.resumedAt(gets.last) {
                #expect(resumedAt > 0 && resumedAt <= gets.first?.bodyBytes ?? 0)
            }
            #expect(bed.notices.all.count == 1)
            #expect(elapsed < .seconds(12))
        }
    }

    /// The trickle of a hostile registry — a byte every 2 s against a 30 s
    /// read timeout, scaled down to a byte every 0.13 s against 2 s — with
    /// no `--max-time`: the default minimum rate stops it within the stall
    /// bound (two windows and a retry), where the read timeout never would.
    @Test func trickleStoppedWithinTheStallBound() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .trickle(bytes: 1, every: .milliseconds(130)))
            let start = ContinuousClock.now
            let error = await thrownError { try await Self.fetchLayer(bed) { $0.readTimeout = .seconds(2) } }
            let elapsed = ContinuousClock.now - start
            guard case .gaveUp(_, let attempts, let last)? = error as? RegistryError else {
                Issue.record("expected gaveUp, got \(String(describing: error))")
                return
            }
            #expect(attempts == 2)
            #expect(last.contains("slower than 1024 bytes/s"))
            #expect(bed.registry.requests(.blobGETs).count == 2)
            // Two windows of 2 s and a retry delay of milliseconds; generous for a loaded machine.
            #expect(elapsed < .seconds(12))
        }
    }

    /// What is not a blob is paced as a blob is: a manifest, a tag list or
    /// a token answer at a byte every 0.13 s (the hostile registry's byte
    /// every 2 s against 30 s, scaled down) is a stall — retried once, then
    /// abandoned naming the rate — not a wait for the request's deadline.
    @Test(arguments: TrickledBody.allCases)
    func trickledBodiesAreStalls(_ trickled: TrickledBody) async throws {
        try await InProcessBed.run(auth: trickled == .token ? .bearer() : .open) { bed in
            bed.registry.add(trickled.match, .trickle(bytes: 1, every: .milliseconds(130)))
            let start = ContinuousClock.now
            let error = await thrownError {
                try await bed.withClient { client in
                    switch trickled {
                    case .manifest, .token: _ = try await client.fetchManifest(try bed.reference())
                    case .tagList: _ = try await client.tags(of: bed.repository)
                    }
                } configure: { $0.readTimeout = .seconds(2) }
            }
            let elapsed = ContinuousClock.now - start
            let message = (error as? RegistryError)?.message ?? String(describing: error)
            #expect(message.contains("slower than 1024 bytes/s"), "\(message)")
            #expect(bed.registry.requests(trickled.match).count == 2, "\(message)")
            // Two windows of 2 s and a retry delay of milliseconds; generous for a loaded machine.
            #expect(elapsed < .seconds(12))
        }
    }

    enum TrickledBody: String, CaseIterable, Sendable {
        case manifest, tagList, token

        var match: RequestMatch {
            switch self {
            case .manifest: .manifestGETs
            case .tagList: .tagLists
            case .token: .tokenRequests
            }
        }
    }

    /// A registry that ignores `Range` and stalls at the same byte each
    /// time sends nothing new after its first attempt: the second and third
    /// attempts are stalls without progress, and there it ends — not
    /// `--retries` (5) times over.
    @Test func stallAtTheSameByteIsRetriedOnce() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .stallBody(after: 1_000, ignoringRange: true))
            let error = await thrownError { try await Self.fetchLayer(bed) { $0.readTimeout = .seconds(1) } }
            guard case .gaveUp(_, let attempts, let last)? = error as? RegistryError else {
                Issue.record("expected gaveUp, got \(String(describing: error))")
                return
            }
            #expect(attempts == 3)
            #expect(last.contains("twice in a row"))
            #expect(bed.registry.requests(.blobGETs).count == 3)
        }
    }

    /// Runs `body` under a deadline of `limit` enforced around it, as
    /// ``PullSession`` does; what it threw and how long it took.
    static func underDeadline(
        _ limit: Duration, _ body: @escaping @Sendable (Deadline) async throws -> some Sendable
    ) async -> (error: (any Error)?, elapsed: Duration) {
        let start = ContinuousClock.now
        let deadline = Deadline(limit: limit)
        let error = await thrownError { try await deadline.enforce { try await body(deadline) } }
        return (error, ContinuousClock.now - start)
    }

    /// Whether `error` says the run's time limit was reached.
    static func namesTheLimit(_ error: (any Error)?) -> Bool {
        if error is TimeLimitReached { return true }
        if case .timeLimitReached? = error as? RegistryError { return true }
        return false
    }
}
