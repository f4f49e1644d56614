import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

extension RegistryClient {
    /// The one request path: every manifest, blob, tag-list and token
    /// request is sent here.
    ///
    /// In order, for each attempt: the deadline is checked; `prepare` may
    /// add headers (a blob's `Range`); the `Authorization` the request may
    /// carry is attached only where the credential rule allows
    /// (``mayCarryCredentials(url:insecure:)``), else the request is refused
    /// before it is sent; redirects are followed (at most 10, no loops,
    /// each through the ``URLGate``), and a hop to another origin carries no
    /// `Authorization`; a 401 from the registry is answered through
    /// ``AuthSession`` — once per challenge, so a registry that asks for
    /// something new (a wider scope, another realm after a token expired,
    /// Basic instead of Bearer) is answered again, at most ``maxAnswers``
    /// times, and one that refuses what it asked for is not; a 401 with no
    /// challenge gets the one of `GET /v2/`; 429 and 500/502/503/504,
    /// connection failures and bodies that break off or trickle (a
    /// ``TransferInterrupted`` thrown by `receive`) are retried within
    /// `retry`, honouring `Retry-After`. Any other answer goes to `receive`,
    /// whose result is returned. Each new attempt starts again from
    /// `request.url`, so a storage redirect is asked for afresh.
    func send<Result>(
        _ request: RegistryRequest, retry: inout RetryBudget,
        prepare: (inout HTTPHeaders) async throws -> Void = { _ in },
        receive: (HTTPClientResponse) async throws -> Result
    ) async throws -> Result {
        // The challenges answered for this request, by identity.
        var answered: [String] = []
        while true {
            try retry.checkDeadline(url: rebased(request.url), last: "no attempt left in time")
            guard let exchange = try await exchange(request, retry: &retry, prepare: prepare) else { continue }
            let response = exchange.response
            let status = response.status.code
            // A 401 of the registry itself, not of storage it redirected to.
            if status == 401, case .registry(let repository) = request.authentication, exchange.answeredBy == exchange.asked {
                try await answerChallenge(response, repository: repository, answered: &answered, rejected: exchange.authorization?.header)
                // A challenge answered is no failed attempt: "attempt N of M" counts the registry's failures only.
                // It cannot repeat: a challenge is answered once (`answered`).
                retry.withdrawAttempt()
                continue
            }
            if RetryBudget.isRetryable(status: status) {
                try await retryAfterStatus(response, url: request.url, retry: &retry)
                continue
            }
            do {
                return try await receive(response)
            } catch let interrupted as TransferInterrupted {
                try await retrying(after: interrupted.failure, url: request.url, retry: &retry)
            }
        }
    }

    /// An answer's headers, the URL asked (over plain http once the
    /// endpoint fell back to it), the URL that answered (after redirects),
    /// and the `Authorization` sent.
    struct Exchange {
        var response: HTTPClientResponse
        var asked: String
        var answeredBy: String
        var authorization: Authorization?
    }

    /// One attempt of `request`, redirects followed, until the headers of
    /// its answer; nil when the attempt failed and another is due (after
    /// the retry's wait, or at once over plain http for a host that turned
    /// out to speak no TLS).
    private func exchange(
        _ request: RegistryRequest, retry: inout RetryBudget, prepare: (inout HTTPHeaders) async throws -> Void
    ) async throws -> Exchange? {
        var request = request
        request.url = rebased(request.url)
        request.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
        try await prepare(&request.headers)
        let authorization = try await authorizationHeader(for: request)
        retry.attempt()
        do {
            let (response, answeredBy) = try await followingRedirects(request, authorization: authorization, retry: retry)
            return Exchange(response: response, asked: request.url, answeredBy: answeredBy, authorization: authorization)
        } catch let error as RegistryError {
            throw error
        } catch let failure as TLSHopFailure {
            // A loopback or --insecure host that speaks no TLS is asked
            // again at once over http: that is no failed attempt.
            if failure.kind.peerMaySpeakPlainHTTP, fallBackToPlainHTTP(from: failure.url) {
                retry.withdrawAttempt()
                return nil
            }
            throw await tlsError(failure)
        } catch {
            // Cut short by the deadline (raced, or the run cancelled when it came): said as the limit, with the URL.
            try retry.checkDeadline(url: request.url, last: "no answer in time")
            if error is CancellationError { throw error }
            try await retrying(after: Self.attemptFailure(error), url: request.url, retry: &retry)
            return nil
        }
    }

    /// Answers a 401 of the registry: the first challenge hocker can
    /// answer (or, with none, the one of `GET /v2/`), once per challenge.
    private func answerChallenge(
        _ response: HTTPClientResponse, repository: String, answered: inout [String], rejected: String?
    ) async throws {
        // A HEAD's 401 has no body; a GET's is read and dropped (ECR's is text/plain).
        await discardBody(response)
        var challenge = AuthChallenge.firstSupported(in: response.headers["WWW-Authenticate"])
        if challenge == nil { challenge = try await pingChallenge() }
        let identity = challenge?.identity ?? ""
        guard !answered.contains(identity), answered.count < Self.maxAnswers else {
            let hadCredentials = await auth.hasCredential(for: repository)
            throw RegistryError.unauthorized(
                repository: repository, registry: endpoint.host,
                detail: hadCredentials ? "access denied after authenticating" : "access denied to an anonymous client",
                hadCredentials: hadCredentials)
        }
        answered.append(identity)
        try await authenticate(challenge, repository: repository, rejected: rejected)
    }

    /// Retries after a 429 or 5xx: `Retry-After` honoured, Docker Hub's
    /// rate-limit headers said; no retry when no pull is left and no time is named.
    private func retryAfterStatus(_ response: HTTPClientResponse, url asked: String, retry: inout RetryBudget) async throws {
        let url = rebased(asked)
        let status = response.status.code
        let body = await errorBody(response)
        let rateLimit = RateLimit(response.headers)
        let retryAfter = response.headers.first(name: "Retry-After").flatMap(Self.parseRetryAfter)
        let summary = Self.errorSummary(body)
        // No pull is left in the window and no time is named: no retry in this run can help.
        if status == 429, let rateLimit, rateLimit.remaining == 0, retryAfter == nil {
            throw RegistryError.rateLimited(url: url, registry: endpoint.host, detail: summary, rateLimit: rateLimit)
        }
        var detail = summary
        if let rateLimit { detail += detail.isEmpty ? rateLimit.description : "; " + rateLimit.description }
        try await retrying(after: AttemptFailure(status: Int(status), detail: detail, retryAfter: retryAfter), url: url, retry: &retry)
    }

    /// Records a failed attempt and waits before the next, or throws when none is left.
    /// `url` is named as it is asked: over plain http once the endpoint fell back to it.
    private func retrying(after failure: AttemptFailure, url asked: String, retry: inout RetryBudget) async throws {
        let url = rebased(asked)
        let delay = try retry.failed(url: url, failure)
        try await pause(delay, url: url, retry: retry)
    }

    /// Sends one attempt of `request`, following redirects; returns the
    /// final response and the URL that gave it.
    private func followingRedirects(
        _ request: RegistryRequest, authorization: Authorization?, retry: RetryBudget
    ) async throws -> (HTTPClientResponse, String) {
        var url = request.url
        var authorization = authorization
        var visited: Set<String> = []
        while true {
            if authorization?.fromCredentials == true || request.bodyCarriesCredential,
               !Self.mayCarryCredentials(url: url, insecure: configuration.insecure)
            {
                throw RegistryError.insecureCredentials(host: Self.hostName(of: url))
            }
            let response = try await hop(request, to: url, authorization: authorization, retry: retry)
            guard let location = Self.redirectLocation(response, method: request.method) else { return (response, url) }
            await discardBody(response)
            let next = try gate.admit(location, relativeTo: url, as: .redirect(from: url))
            visited.insert(url)
            guard !visited.contains(next), visited.count <= 10 else { throw RegistryError.redirectLoop(url: request.url) }
            // Storage on another origin (S3, a CDN) gets no credentials: they are the registry's.
            if !URLGate.sameOrigin(url, next) { authorization = nil }
            url = next
        }
    }

    /// One HTTP exchange with `url`, until its headers arrive.
    private func hop(_ request: RegistryRequest, to url: String, authorization: Authorization?, retry: RetryBudget) async throws -> HTTPClientResponse {
        var http = HTTPClientRequest(url: url)
        http.method = request.method
        http.headers = request.headers
        if let authorization { http.headers.replaceOrAdd(name: "Authorization", value: authorization.header) }
        if let body = request.body { http.body = .bytes(body) }
        if url.lowercased().hasPrefix("https://") {
            http.tlsConfiguration = try trust().configuration(forHost: Self.authority(of: url))
        }
        let response: HTTPClientResponse
        do {
            response = try await execute(http, timeout: retry.requestTimeout, deadline: retry.deadline)
        } catch {
            if let kind = TLSFailureKind(error) {
                logger.debug("TLS failure", metadata: ["url": "\(url)", "error": "\(error)"])
                throw TLSHopFailure(url: url, kind: kind)
            }
            throw error
        }
        noteAnswered(url)
        // The credential itself is never logged, only its scheme.
        var metadata: Logger.Metadata = authorization.map { ["authorization": "\($0.header.prefix { $0 != " " }) \(SecretRedactor.mask)"] } ?? [:]
        if let rateLimit = RateLimit(response.headers) { metadata["ratelimit"] = "\(rateLimit.description)" }
        logger.debug("\(request.method) \(url) → \(response.status.code)", metadata: metadata)
        return response
    }

    /// The gate for the URLs this client's registry hands over.
    var gate: URLGate {
        URLGate(endpoint: effectiveEndpoint, insecure: configuration.insecure)
    }

    /// Sends one request, until its headers arrive. With `--max-time`, the
    /// deadline is raced against it, and the request is abandoned (cancelled,
    /// not waited for) when the deadline comes first: the client's own
    /// request timeout does not cover setting up a connection, and a TLS
    /// handshake with a server that never answers ends only at the connect
    /// timeout, cancelled or not.
    private func execute(_ request: HTTPClientRequest, timeout: TimeAmount, deadline: ContinuousClock.Instant?) async throws -> HTTPClientResponse {
        guard let deadline else { return try await http.execute(request, timeout: timeout) }
        let http = http
        let exchange = Task { try await http.execute(request, timeout: timeout) }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPClientResponse, any Error>) in
                let outcome = FirstOutcome(continuation)
                let timer = Task {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    if outcome.resume(with: .failure(HTTPClientError.deadlineExceeded)) { exchange.cancel() }
                }
                Task {
                    let result = await exchange.result
                    if outcome.resume(with: result) { timer.cancel() }
                }
            }
        } onCancel: {
            exchange.cancel()
        }
    }

    /// The header a request carries before any challenge, and whether it is
    /// made of the user's credentials (the credential rule applies) or not
    /// (a token issued to an anonymous client).
    struct Authorization: Sendable {
        var header: String
        var fromCredentials: Bool
    }

    private func authorizationHeader(for request: RegistryRequest) async throws -> Authorization? {
        switch request.authentication {
        case .registry(let repository):
            return await auth.authorization(for: repository)
        case .tokenRealm(let credential):
            return credential?.credential.basicAuthorization.map { Authorization(header: $0, fromCredentials: true) }
        case .anonymous:
            return nil
        }
    }

    /// The most challenges one request answers: the first, a wider scope
    /// (`insufficient_scope`), and a new realm or scheme after a token expired.
    static let maxAnswers = 3

    /// Answers a 401 from the registry: sets up Basic, or gets a token from
    /// the challenge's realm (shared by concurrent requests of the same scope).
    private func authenticate(_ challenge: AuthChallenge?, repository: String, rejected: String?) async throws {
        switch try await auth.answer(challenge: challenge, repository: repository, rejected: rejected, gate: gate) {
        case .ready:
            return
        case .token(let tokenRequest):
            try await auth.obtain(tokenRequest) { [self] in try await self.requestToken(tokenRequest) }
        }
    }

    /// The first supported challenge of `GET /v2/`, for a 401 that carried
    /// none (gcr.io and Artifact Registry challenge only there); asked once
    /// a run. Nil when `/v2/` has none either.
    private func pingChallenge() async throws -> AuthChallenge? {
        let url = effectiveEndpoint.v2URL
        let headers = try await auth.pingChallenges { [self] in
            logger.debug("401 without a challenge; asking \(url)")
            var retry = makeRetryBudget()
            return try await send(RegistryRequest(.GET, url, authentication: .anonymous), retry: &retry) { response in
                await discardBody(response)
                return response.status == .unauthorized ? response.headers["WWW-Authenticate"] : []
            }
        }
        return AuthChallenge.firstSupported(in: headers)
    }

    /// Waits before the next attempt, after telling the retry observer.
    private func pause(_ delay: Duration, url: String, retry: RetryBudget) async throws {
        let reason = retry.lastFailure?.description ?? "failed"
        logger.debug("retrying", metadata: ["url": "\(url)", "error": "\(reason)", "delay": "\(delay)"])
        configuration.retryObserver?(RetryNotice(
            url: url, reason: reason, nextAttempt: retry.attempts + 1, maxAttempts: configuration.retries + 1, delay: delay))
        try await Task.sleep(for: delay)
    }

    // MARK: https first

    /// A TLS error on the way to `url`, with what it says.
    struct TLSHopFailure: Error {
        var url: String
        var kind: TLSFailureKind
    }

    /// `https://HOST` of the endpoint, the origin whose scheme may change.
    private var httpsOrigin: String { "https://" + endpoint.host }

    /// `url` over plain http when the endpoint has fallen back to it and the
    /// URL is on the endpoint's https origin; else `url`.
    func rebased(_ url: String) -> String {
        guard endpoint.fallsBackToPlainHTTP, url.hasPrefix(httpsOrigin + "/"), connection.schemeChoice.withLock({ $0 }) == .http else { return url }
        return "http://" + endpoint.host + url.dropFirst(httpsOrigin.count)
    }

    /// Records that the endpoint answered over https, so it stays https.
    private func noteAnswered(_ url: String) {
        guard endpoint.fallsBackToPlainHTTP, url.hasPrefix(httpsOrigin + "/") else { return }
        connection.schemeChoice.withLock { if $0 == .undecided { $0 = .https } }
    }

    /// Switches the endpoint to plain http after `url` found no TLS there;
    /// false when it may not (an explicit scheme, another host, or a host
    /// that has answered over https before).
    private func fallBackToPlainHTTP(from url: String) -> Bool {
        guard endpoint.fallsBackToPlainHTTP, url.hasPrefix(httpsOrigin + "/") else { return false }
        let switched = connection.schemeChoice.withLock { choice -> Bool in
            guard choice != .https else { return false }
            choice = .http
            return true
        }
        if switched { logger.debug("no TLS at \(endpoint.host); using plain http", metadata: ["url": "\(url)"]) }
        return switched
    }

    /// The error for a TLS failure: a certificate that does not verify is
    /// looked at to say why; a client certificate alert names the file.
    private func tlsError(_ failure: TLSHopFailure) async -> RegistryError {
        let host = Self.authority(of: failure.url)
        let trust = try? trust()
        var usedDirectory: String?
        if let trust, trust.certDirectory == nil, let directory = try? trust.directory(forHost: host) { usedDirectory = directory.path }
        let summary = TLSTrustSummary(
            certDirectory: trust?.certDirectory?.path, perHostDirectories: trust?.perHostCandidates(host: host) ?? [],
            usedDirectory: usedDirectory, base: trust?.base ?? .system)
        let problem: TLSProblem
        switch failure.kind {
        case .certificateRejected, .hostnameMismatch:
            let components = URLComponents(string: failure.url)
            if let trust, let name = components?.host, HTTPClientFactory.proxy(for: endpoint, environment: configuration.environment) == nil,
               let tls = try? trust.configuration(forHost: host)
            {
                problem = await TLSInspector.diagnose(host: name, port: components?.port ?? 443, configuration: tls)
            } else {
                problem = .unverified
            }
        case .notTLS:
            problem = .speaksPlainHTTP
        case .closedDuringHandshake:
            problem = .closedDuringHandshake
        case .clientCertificateAlert:
            let presented = trust?.clientCertificatePath(forHost: host)
            problem = presented == nil ? .clientCertificateRequired : .clientCertificateRejected(path: presented)
        case .other(let words):
            problem = .handshakeFailed(words)
        }
        return .tls(host: host, problem: problem, trust: summary)
    }

    /// `HOST[:PORT]` of a URL as written in it (lowercased, no user info):
    /// what certs.d directories are named by.
    static func authority(of url: String) -> String {
        var rest = Substring(url)
        if let range = rest.firstRange(of: "://") { rest = rest[range.upperBound...] }
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        return authority.lowercased()
    }

    // MARK: The credential rule

    /// Whether credentials may be sent to `url`: over https, to a loopback
    /// host, or anywhere when `insecure` (`--insecure`) allows plain http.
    static func mayCarryCredentials(url: String, insecure: Bool) -> Bool {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased() else { return false }
        return scheme == "https" || insecure || RegistryEndpoint.isLoopback(host: parsed.host ?? "")
    }

    static func hostName(of url: String) -> String {
        URL(string: url)?.host ?? url
    }

    // MARK: Redirects

    /// The `Location` of a 301/302/303/307/308 answer to a GET or HEAD; nil
    /// for any other answer. Where it points is for ``URLGate`` to judge.
    static func redirectLocation(_ response: HTTPClientResponse, method: HTTPMethod) -> String? {
        guard [301, 302, 303, 307, 308].contains(response.status.code), method == .GET || method == .HEAD,
              let location = response.headers.first(name: "Location"), !location.isEmpty
        else { return nil }
        return location
    }
}
