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

/// 429, 5xx and `Retry-After` against the in-process registry: retried
/// within the budget, each retry announced before its wait.
@Suite("In-process registry: retries", .timeLimit(.minutes(1)))
struct InProcessRetryTests {
    /// One failed answer, then the manifest: one retry, announced with the
    /// status and, when the registry named one, its `Retry-After` (capped at
    /// the longest delay, 0.3 s here) as the wait; else a backoff of milliseconds.
    @Test(arguments: [
        (429, RetryAfter.seconds(2) as RetryAfter?), (429, .httpDate(secondsFromNow: 5)), (503, .seconds(2)), (503, nil), (500, nil), (502, nil), (504, nil),
    ])
    func retriedOnceAndAnnounced(_ status: Int, retryAfter: RetryAfter?) async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.manifestGETs, .retryLater(status: status, retryAfter: retryAfter), times: 1)
            let document = try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) }
            #expect(document.digest.description == bed.image.top.digest)
            #expect(bed.registry.requests(.manifestGETs).map(\.status) == [status, 200])
            let notices = bed.notices.all
            #expect(notices.count == 1)
            #expect(notices.first?.reason.hasPrefix("HTTP \(status)") == true)
            #expect(notices.first?.nextAttempt == 2)
            if retryAfter != nil {
                #expect(notices.first?.delay == .milliseconds(300))
            } else {
                #expect(notices.first.map { $0.delay < .milliseconds(100) } == true)
            }
        }
    }

    /// `Retry-After` below the longest delay is waited for as it is.
    @Test func retryAfterHonoured() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.manifestGETs, .retryLater(status: 429, retryAfter: .seconds(1)), times: 1)
            let start = ContinuousClock.now
            _ = try await bed.withClient { client in
                try await client.fetchManifest(try bed.reference())
            } configure: { $0.maxRetryDelay = .seconds(5) }
            #expect(bed.notices.all.map(\.delay) == [.seconds(1)])
            #expect(ContinuousClock.now - start >= .seconds(1))
        }
    }

    /// A registry that keeps failing: `--retries` more attempts, then an
    /// error that says how many there were and what the last one got.
    /// Asked over https first, as a loopback registry named without a
    /// scheme is, the error names the plain-http URL that was retried.
    @Test(arguments: [429, 500, 503], [false, true])
    func givesUpAfterRetries(_ status: Int, fallingBackToHTTP: Bool) async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.manifestGETs, .retryLater(status: status, retryAfter: nil))
            let endpoint = fallingBackToHTTP ? RegistryEndpoint(scheme: "https", host: bed.registry.host, fallsBackToPlainHTTP: true) : nil
            let error = await thrownError {
                try await bed.withClient(endpoint: endpoint) { client in try await client.fetchManifest(try bed.reference()) } configure: { $0.retries = 2 }
            }
            guard case .gaveUp(let url, let attempts, let last)? = error as? RegistryError else {
                Issue.record("expected gaveUp, got \(String(describing: error))")
                return
            }
            #expect(attempts == 3)
            #expect(url.hasPrefix("http://"), "\(url)")
            #expect(last.hasPrefix("HTTP \(status)"))
            #expect(bed.registry.requests(.manifestGETs).count == 3)
            #expect(bed.notices.all.map(\.nextAttempt) == [2, 3])
        }
    }

    /// The same behind a Basic challenge: the 401 answered is no failed
    /// attempt, so the count and the notices are those of the failures
    /// alone ("attempt 3 of 3", never "4 of 3").
    @Test func aChallengeAnsweredIsNoAttempt() async throws {
        try await InProcessBed.run(auth: .basic(username: "alice", password: "s3cret")) { bed in
            let authorized = RequestMatch { $0.route == .manifest && $0.method == "GET" && $0.hasAuthorization }
            bed.registry.add(authorized, .retryLater(status: 503, retryAfter: nil))
            let error = await thrownError {
                try await bed.withClient(.basic(username: "alice", password: "s3cret")) { client in
                    try await client.fetchManifest(try bed.reference())
                } configure: { $0.retries = 2 }
            }
            guard case .gaveUp(_, let attempts, _)? = error as? RegistryError else {
                Issue.record("expected gaveUp, got \(String(describing: error))")
                return
            }
            #expect(attempts == 3)
            #expect(bed.registry.requests(authorized).count == 3)
            #expect(bed.notices.all.map(\.nextAttempt) == [2, 3])
        }
    }

    /// An answer that is not HTTP — a control character in a header — is
    /// what the registry sends every time: refused at once, not retried.
    @Test func malformedAnswerNotRetried() async throws {
        let server = try await RawAnswerServer.start(
            answer: "HTTP/1.1 307 Temporary Redirect\r\nLocation: /v2/r/x/manifests/y\u{1B}]0;title\u{07}\r\nContent-Length: 0\r\n\r\n")
        defer { server.stop() }
        let notices = NoticeLog()
        var configuration = InProcessBed.configuration(notices: notices)
        configuration.retries = 2
        let client = RegistryClient(endpoint: RegistryEndpoint(scheme: "http", host: server.hostPort), credentials: nil, configuration: configuration)
        let error = await thrownError {
            try await client.use { client in try await client.fetchManifest(try ImageReference(parsing: "\(server.hostPort)/r/x:v1")) }
        }
        #expect(error != nil)
        #expect(server.requests == 1, "\(String(describing: error))")
        #expect(notices.all.isEmpty)
    }

    /// A 429 with no pull left in the window and no time named: no retry
    /// can help, so none is made.
    @Test func exhaustedRateLimitNotRetried() async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.manifestGETs, .respond(status: 429, headers: [("ratelimit-limit", "100;w=21600"), ("ratelimit-remaining", "0;w=21600")]))
            let error = await thrownError { try await bed.withClient { client in try await client.fetchManifest(try bed.reference()) } }
            guard case .rateLimited(_, _, _, let rateLimit)? = error as? RegistryError else {
                Issue.record("expected rateLimited, got \(String(describing: error))")
                return
            }
            #expect(rateLimit?.description == "rate limit: 0 of 100 pulls left in 6 h")
            #expect(bed.registry.requests(.manifestGETs).count == 1)
            #expect(bed.notices.all.isEmpty)
        }
    }

    /// A 4xx other than 401, 408 and 429 is an answer, not a failure: never retried.
    @Test(arguments: [400, 403, 404])
    func clientErrorsNotRetried(_ status: Int) async throws {
        try await InProcessBed.run { bed in
            bed.registry.add(.blobGETs, .respond(status: status, headers: [("Content-Type", "application/json")], body: #"{"errors":[{"code":"DENIED","message":"no"}]}"#))
            let config = bed.image.single.config
            _ = await thrownError {
                try await bed.withClient { client in try await client.fetchBlobBytes(try InProcessBed.descriptor(config), of: try bed.reference()) }
            }
            #expect(bed.registry.requests(.blobGETs).count == 1)
            #expect(bed.notices.all.isEmpty)
        }
    }
}
