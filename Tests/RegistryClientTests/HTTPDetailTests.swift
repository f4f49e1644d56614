import Foundation
import ImageReference
import NIOHTTP1
import NIOSSL
@testable import RegistryClient
import Testing

@Suite("HTTP details")
struct HTTPDetailTests {
    @Test(arguments: [
        ("r.example/team/app:nope", "team/app:nope"),
        ("r.example/team/app:sha-860c190", "team/app:sha-860c190"),
        ("r.example/team/app", "team/app:latest"),
        ("r.example/team/app@sha256:" + String(repeating: "a", count: 64), "team/app@sha256:" + String(repeating: "a", count: 64)),
    ])
    func manifestUnknownNamesTagOrDigest(_ reference: String, _ shown: String) throws {
        let image = try ImageReference(parsing: reference)
        let error = RegistryError.manifestUnknown(image: image.repositoryReference, registry: "r.example")
        #expect(error.description == "manifest unknown: \(shown) at r.example")
    }

    @Test(arguments: [
        ("registry.example.com", "example.com", true),
        ("registry.example.com", ".example.com", true),
        ("example.com", ".example.com", true),
        ("registry.example.com", "other.com,  example.com:443", true),
        ("registry.example.com", "*", true),
        ("registry.example.com", "ample.com", false),
        ("registry.example.com", "", false),
    ])
    func noProxy(_ host: String, _ noProxy: String, bypass: Bool) {
        #expect(HTTPClientFactory.bypasses(host: host, noProxy: noProxy) == bypass)
    }

    /// A handshake or certificate failure is final and never shown in the
    /// library's words; a TLS connection that just ends is a dropped
    /// connection, retried (and resumed, for a blob).
    @Test func tlsErrors() {
        let handshake = NIOSSLError.handshakeFailed(.sslError([]))
        #expect(!RegistryClient.isRetryable(handshake))
        #expect(!RegistryClient.isRetryable(NIOSSLExtraError.failedToValidateHostname))
        #expect(RegistryClient.isRetryable(NIOSSLError.uncleanShutdown))
        #expect(RegistryClient.describe(handshake) == "the TLS connection failed")
        #expect(RegistryClient.describe(NIOSSLError.uncleanShutdown) == "the server closed the TLS connection")
        #expect(TLSFailureKind(NIOSSLError.uncleanShutdown) == nil)
        #expect(TLSFailureKind(NIOSSLExtraError.failedToValidateHostname) == .hostnameMismatch)
        #expect(TLSFailureKind(handshake) == .other(""))
        #expect(TLSFailureKind(CancellationError()) == nil)
    }

    @Test func retryAfter() {
        #expect(RegistryClient.parseRetryAfter("3") == .seconds(3))
        #expect(RegistryClient.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT").map { $0 < .zero } == true)
        #expect(RegistryClient.parseRetryAfter("soon") == nil)
    }

    /// Docker Hub's quota headers, as its pulls answer them.
    @Test(arguments: [
        (["ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600"], "rate limit: 0 of 100 pulls left in 6 h"),
        (["RateLimit-Limit": "200;w=21600", "RateLimit-Remaining": "76;w=21600"], "rate limit: 76 of 200 pulls left in 6 h"),
        (["ratelimit-limit": "100", "ratelimit-remaining": "3"], "rate limit: 3 of 100 pulls left"),
        (["ratelimit-limit": "60;w=90"], "rate limit: 60 pulls in 90 s"),
        (["ratelimit-limit": "10;w=1800", "ratelimit-remaining": "1;w=1800"], "rate limit: 1 of 10 pulls left in 30 min"),
    ])
    func rateLimit(_ fields: [String: String], description: String) {
        let headers = HTTPHeaders(fields.map { ($0.key, $0.value) })
        #expect(RateLimit(headers)?.description == description)
    }

    @Test(arguments: [[:], ["ratelimit-limit": "lots"], ["ratelimit-remaining": "0;w=60"]])
    func noRateLimit(_ fields: [String: String]) {
        #expect(RateLimit(HTTPHeaders(fields.map { ($0.key, $0.value) })) == nil)
    }

    /// `expires_in` as the token spec has it: absent or below 60 counts as
    /// 60; the token is renewed 5 s before it ends.
    @Test(arguments: [(nil, 55), (0, 55), (-5, 55), (30, 55), (60, 55), (300, 295)] as [(Int?, Int)])
    func tokenLifetime(_ expiresIn: Int?, usedFor seconds: Int) {
        let received = ContinuousClock.now
        #expect(TokenLifetime.renewal(expiresIn: expiresIn, received: received) == received + .seconds(seconds))
    }
}
