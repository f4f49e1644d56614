import Foundation
import ImageReference
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
}
