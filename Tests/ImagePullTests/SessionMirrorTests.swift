import ImageLock
import ImagePull
import ImageReference
import ImageSpec
import RegistryClient
import RegistryMirrors
import RegistryTestBed
import Synchronization
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Mirrors through a pull session: a second in-process registry as
/// `--mirror`, serving, passed over, or never answering, and the run's one
/// deadline across sources and lock entries.
@Suite("Pull session: mirrors and the deadline", .timeLimit(.minutes(1)))
struct SessionMirrorTests {
    static func mirrorRule(_ mirror: InProcessRegistry) -> MirrorRule {
        MirrorRule(location: mirror.host, origin: "--mirror")
    }

    /// Runs one use case against `target`; returns nothing, as only the requests matter.
    static func use(_ useCase: String, _ target: ImageTarget, session: PullSession, bed: SessionBed) async throws {
        switch useCase {
        case "image": try await session.image(target, platforms: .host, format: .docker, to: bed.path("image.tar"))
        case "manifest": _ = try await session.manifest(target, platform: .host)
        case "config": try await session.config(target, platform: .host, to: bed.path("config.json"))
        case "digest": _ = try await session.digest(target, platform: nil)
        case "pin": _ = try await session.pin(target, platforms: .host, name: "app")
        default: _ = try await session.inspect(target, platforms: .all)
        }
    }

    /// A mirror that holds the image serves the whole use case: the
    /// registry itself is asked nothing, and nothing is noted.
    @Test(arguments: ["image", "manifest", "config", "digest", "pin", "inspect"])
    func servedByTheMirror(_ useCase: String) async throws {
        try await SessionBed.run { bed in
            try await withRegistry { mirror in
                mirror.push(.sessionSmall, to: "team/app")
                let target = try bed.target()
                try await bed.session({ $0.runMirrors = [Self.mirrorRule(mirror)] }) { session in
                    try await Self.use(useCase, target, session: session, bed: bed)
                }
                #expect(bed.registry.requests.isEmpty)
                #expect(!mirror.requests(.route(.manifest)).isEmpty)
                if useCase == "image" {
                    #expect(contents(bed.path("image.tar")) != nil)
                    #expect(Set(mirror.requests(.blobGETs).map { String($0.path.split(separator: "/").last ?? "") })
                        == Set(ImageFixture.sessionSmall.blobs.map(\.digest)))
                }
                #expect(bed.notes.all.isEmpty)
            }
        }
    }

    /// What a broken mirror does, and whether the run remembers it.
    enum MirrorFault: String, Sendable, CaseIterable, CustomStringConvertible {
        /// It does not hold the image: 404, asked again for the next image.
        case notThere = "answers 404"
        /// It refuses: 403, asked again.
        case denied = "answers 403"
        /// It is down: 503.
        case unavailable = "answers 503"
        /// It closes every connection.
        case closes = "closes the connection"
        /// It accepts and never answers.
        case silent = "never answers"

        var description: String { rawValue }

        /// Whether it cannot be reached at all, and so is not asked again in the run.
        var remembered: Bool { ![.notThere, .denied].contains(self) }

        func apply(to mirror: InProcessRegistry) {
            switch self {
            case .notThere: break
            case .denied: mirror.add(.everything, .respond(status: 403, body: #"{"errors":[{"code":"DENIED","message":"denied"}]}"#))
            case .unavailable: mirror.add(.everything, .retryLater(status: 503, retryAfter: nil))
            case .closes: mirror.add(.everything, .close)
            case .silent: mirror.add(.everything, .stallBeforeHeaders())
            }
        }
    }

    /// A mirror that cannot serve is passed over with one note naming it and
    /// its answer, and the registry serves; one that cannot be reached is
    /// not asked again in the run, one that answered (a 404) is.
    @Test(arguments: MirrorFault.allCases)
    func brokenMirrorPassedOver(_ fault: MirrorFault) async throws {
        try await SessionBed.run { bed in
            bed.registry.push(.sessionTwoPlatforms, to: "team/other")
            try await withRegistry { mirror in
                fault.apply(to: mirror)
                let (app, other) = (try bed.target(), try bed.target("team/other"))
                try await bed.session({ options in
                    options.runMirrors = [Self.mirrorRule(mirror)]
                    // What a probe of a mirror waits at most: short for the one that never answers.
                    if fault == .silent { options.client.connectTimeout = .seconds(2) }
                }) { session in
                    try await session.image(app, platforms: .host, format: .docker, to: bed.path("image.tar"))
                    _ = try await session.pin(other, platforms: .all, name: "other")
                }
                #expect(contents(bed.path("image.tar")) != nil)
                let notes = bed.notes.all
                #expect(notes.count == (fault.remembered ? 1 : 2), "\(notes)")
                #expect(notes.allSatisfy { $0.contains("mirror \(mirror.host)") && $0.contains("--mirror") })
                #expect(notes.first?.contains("not asked again in this run") == fault.remembered)
                // A mirror that cannot be reached costs one probe (its wait, for one that never answers), not one per image.
                let asked = mirror.requests(.route(.manifest))
                #expect(fault.remembered ? asked.count <= 1 : asked.count == 2, "\(asked.map(\.uri))")
            }
        }
    }

    /// The lock check of the hostile case: 12 entries, ten of one registry
    /// and two of another, with a mirror that accepts connections and never
    /// answers, under a time limit. The mirror is asked once — at most
    /// once per entry running at that moment — and remembered; every entry
    /// is then checked at its registry, all within the limit (30 s here).
    @Test(arguments: [1, 8])
    func silentMirrorRememberedAcrossLockEntries(jobs: Int) async throws {
        try await SessionBed.run { bed in
            try await withRegistry { second in
                try await withRegistry { mirror in
                    mirror.add(.everything, .stallBeforeHeaders())
                    let workflow = LockWorkflow(path: bed.path("images.lock.json"), jobs: jobs, temporaryPaths: TemporaryPaths())
                    var additions: [LockWorkflow.Addition] = []
                    for number in 1...10 {
                        bed.registry.tag("v\(number)", digest: ImageFixture.sessionSmall.top.digest, repository: "team/app")
                        additions.append(try SessionLockTests.addition(bed, "team/app", tag: "v\(number)", name: "app\(number)"))
                    }
                    second.push(.sessionTwoPlatforms, to: "lib/base", tags: ["1", "2"])
                    for tag in ["1", "2"] {
                        let target = try ImageTarget(name: "\(second.host)/lib/base", tag: tag, registry: nil, insecure: false)
                        additions.append(LockWorkflow.Addition(endpoint: target.endpoint, image: target.reference, given: target.reference.description, name: "base\(tag)"))
                    }
                    try await SessionLockTests.add(additions, bed: bed, workflow: workflow)

                    let start = ContinuousClock.now
                    let outcome = try await bed.session({ options in
                        options.runMirrors = [Self.mirrorRule(mirror)]
                        // 30 s rather than the 5 s of the command line it imitates (measured from bash): room
                        // for a test process running the whole suite on two cores.
                        options.maxTime = .seconds(30)
                        // A probe waits the connect timeout (10 s, as by default) or half the time left, whichever is less.
                    }) { session in
                        try await session.lockRefresh([], write: false, workflow: workflow)
                    }
                    let elapsed = ContinuousClock.now - start
                    #expect(outcome.report.failed.isEmpty, "\(outcome.report.failed)")
                    #expect(outcome.report.unchanged.count == 12)
                    #expect(elapsed < .seconds(30))
                    let probes = mirror.requests(.route(.manifest))
                    #expect(probes.count >= 1 && probes.count <= jobs, "\(probes.count) probes of the mirror")
                    let notes = bed.notes.all.filter { $0.contains("not asked again") }
                    #expect(!notes.isEmpty)
                    #expect(notes.count == 1, "\(notes)")
                    #expect(second.requests(.manifestHEADs).count == 2)
                }
            }
        }
    }

    /// One deadline for the run, not one per entry: four entries whose
    /// registry never answers, checked one at a time with a 10 s read
    /// timeout (a stall retried once would take 20 s each), end together at
    /// the 3 s limit, the later entries never asked.
    @Test func oneDeadlineAcrossEntries() async throws {
        try await SessionBed.run { bed in
            let workflow = LockWorkflow(path: bed.path("images.lock.json"), jobs: 1, temporaryPaths: TemporaryPaths())
            var additions: [LockWorkflow.Addition] = []
            for number in 1...4 {
                bed.registry.tag("v\(number)", digest: ImageFixture.sessionSmall.top.digest, repository: "team/app")
                additions.append(try SessionLockTests.addition(bed, "team/app", tag: "v\(number)", name: "app\(number)"))
            }
            try await SessionLockTests.add(additions, bed: bed, workflow: workflow)
            bed.registry.add(.manifestHEADs, .stallBeforeHeaders())
            bed.registry.clearRequests()

            let start = ContinuousClock.now
            var outcome: LockWorkflow.RefreshOutcome?
            var failure: (any Error)?
            do {
                outcome = try await bed.session({ $0.maxTime = .seconds(3) }) { session in
                    try await session.lockRefresh([], write: false, workflow: workflow)
                }
            } catch {
                failure = error
            }
            let elapsed = ContinuousClock.now - start
            if let outcome {
                // Entries cut short by the limit fail; none is left out.
                #expect(outcome.report.unchanged.isEmpty)
                #expect(outcome.report.failed.count == 4)
                #expect(outcome.report.failed.allSatisfy { $0.error.contains("time limit") }, "\(outcome.report.failed)")
            } else {
                #expect(Self.namesTheLimit(failure), "\(String(describing: failure))")
            }
            // Entries waiting out their stalls one by one would take 40 s or more.
            #expect(elapsed < .seconds(20))
            #expect(bed.registry.requests(.manifestHEADs).count <= 2)
        }
    }

    /// Whether `error` says the run's time limit was reached.
    static func namesTheLimit(_ error: (any Error)?) -> Bool {
        if error is TimeLimitReached { return true }
        if case .timeLimitReached? = error as? RegistryError { return true }
        return false
    }
}
