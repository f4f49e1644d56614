import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ImageReference

/// Reading answers and naming failures: the registry's error bodies, the
/// error for a status, `Retry-After`, and a connection error in words.
extension RegistryClient {
    /// The error for an answer that is none of the ones the caller expects:
    /// 404 as `notFound` says (given the registry's error code), 403 as
    /// denied, anything else as unexpected.
    func failure(
        _ response: HTTPClientResponse, url: String, repository: String, notFound: (String?) -> RegistryError
    ) async -> RegistryError {
        let body = await errorBody(response)
        let errors = Self.registryErrors(body)
        switch response.status.code {
        case 404:
            return notFound(errors.first?.code)
        case 403:
            return .denied(repository: repository, registry: endpoint.host, detail: Self.errorSummary(body))
        case 400 where Self.isPlainHTTPToHTTPS(body):
            return .speaksHTTPS(host: Self.authority(of: url))
        default:
            // Named as it was asked: over plain http, if the endpoint fell back to it.
            return .unexpectedStatus(Int(response.status.code), url: rebased(url), detail: Self.errorSummary(body))
        }
    }

    /// Whether a 400 body is a TLS server's answer to plain http: Go's
    /// (distribution, Harbor, Zot) or nginx's wording.
    static func isPlainHTTPToHTTPS(_ body: ByteBuffer) -> Bool {
        let text = String(decoding: body.readableBytesView.prefix(512), as: UTF8.self)
        return text.contains("Client sent an HTTP request to an HTTPS server") || text.contains("The plain HTTP request was sent to HTTPS port")
    }

    /// The whole body, at most `limit` bytes, arriving at least as fast as
    /// a blob must (``BodyPace``: `--timeout`'s window and the minimum
    /// rate), so a trickled manifest, token or error body is a stall like a
    /// trickled layer. A body that breaks off or trickles is a
    /// ``TransferInterrupted`` (the request path retries it); one over the
    /// limit is refused.
    func collect(_ response: HTTPClientResponse, upTo limit: Int, what: String) async throws -> ByteBuffer {
        if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > limit {
            throw RegistryError.tooLarge(what: what, limit: limit)
        }
        var pace = BodyPace(window: configuration.readTimeout, minimumRate: configuration.minimumRate)
        var collected = ByteBuffer()
        do {
            for try await var chunk in response.body {
                guard collected.readableBytes + chunk.readableBytes <= limit else { throw RegistryError.tooLarge(what: what, limit: limit) }
                try pace.arrived(Int64(chunk.readableBytes))
                collected.writeBuffer(&chunk)
            }
        } catch let error as RegistryError {
            throw error
        } catch let slow as BodyTooSlow {
            throw TransferInterrupted(failure: slow.failure)
        } catch {
            throw TransferInterrupted(failure: Self.attemptFailure(error))
        }
        return collected
    }

    /// An error answer's body, for its message: at most 64 KiB, paced as
    /// ``collect(_:upTo:what:)``; empty when it cannot be read.
    func errorBody(_ response: HTTPClientResponse) async -> ByteBuffer {
        (try? await collect(response, upTo: 64 * 1024, what: "error body")) ?? ByteBuffer()
    }

    /// Reads and drops a body that is not used, so the connection can be
    /// used again; paced, and given up on as ``errorBody(_:)``.
    func discardBody(_ response: HTTPClientResponse) async {
        _ = await errorBody(response)
    }

    struct RegistryErrorBody: Decodable {
        struct Item: Decodable {
            var code: String?
            var message: String?
        }
        var errors: [Item]?
    }

    static func registryErrors(_ body: ByteBuffer) -> [RegistryErrorBody.Item] {
        (try? JSONDecoder().decode(RegistryErrorBody.self, from: Data(body.readableBytesView)))?.errors ?? []
    }

    /// A short text for an error body, on one line: the registry's error
    /// messages, or the start of the body. The registry chose every byte of
    /// it, so its controls and newlines are shown as escapes
    /// (``TerminalText/field(_:)``): none can forge a line of hocker's own.
    static func errorSummary(_ body: ByteBuffer) -> String {
        let items = registryErrors(body)
        if !items.isEmpty {
            return TerminalText.field(items.map { [$0.code, $0.message].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; "))
        }
        return TerminalText.field(String(decoding: body.readableBytesView.prefix(200), as: UTF8.self))
    }

    /// `Retry-After` as seconds or an HTTP date.
    static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingWhitespace()
        if let seconds = Int(trimmed) { return .seconds(seconds) }
        guard let date = UTCTime.parseHTTPDate(trimmed) else { return nil }
        return .milliseconds(Int64(date.timeIntervalSinceNow * 1000))
    }

    /// What a failed request or body read says about another attempt.
    static func attemptFailure(_ error: any Error, madeProgress: Bool = false) -> AttemptFailure {
        AttemptFailure(detail: describe(error), retryable: isRetryable(error), isStall: isStall(error), madeProgress: madeProgress)
    }

    /// Whether another attempt may succeed where this error failed: not
    /// after a name that does not resolve, a TLS failure, or a malformed URL.
    static func isRetryable(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        if let clientError = error as? HTTPClientError {
            let final: [HTTPClientError] = [.cancelled, .invalidURL, .emptyHost, .emptyScheme, .deadlineExceeded]
            return !final.contains(clientError)
        }
        if let connectionError = error as? NIOConnectionError {
            if connectionError.connectionErrors.isEmpty, connectionError.dnsAError != nil || connectionError.dnsAAAAError != nil { return false }
            return connectionError.connectionErrors.allSatisfy { isRetryable($0.error) }
        }
        // A TLS connection that ends without close_notify is a dropped
        // connection like any other; every other TLS error is final.
        if case .uncleanShutdown? = error as? NIOSSLError { return true }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError { return false }
        // A head that is not HTTP (a control character in a header, a status
        // line that is none) is what the registry sends, every time: asking
        // again only waits. A body cut short is a parser error too
        // (`invalidEOFState`), and that one is retried.
        if let parserError = error as? HTTPParserError {
            let final: [HTTPParserError] = [
                .invalidHeaderToken, .invalidVersion, .invalidStatus, .invalidContentLength,
                .unexpectedContentLength, .headerOverflow, .invalidConstant,
            ]
            return !final.contains(parserError)
        }
        return true
    }

    /// Whether the error is a wait for bytes that ran out.
    static func isStall(_ error: any Error) -> Bool {
        guard let clientError = error as? HTTPClientError else { return false }
        return clientError == .readTimeout || clientError == .connectTimeout || clientError == .tlsHandshakeTimeout
    }

    /// A connection error in a few words.
    static func describe(_ error: any Error) -> String {
        if let clientError = error as? HTTPClientError {
            let known: [(HTTPClientError, String)] = [
                (.readTimeout, "no data for too long (read timeout)"),
                (.connectTimeout, "connection timed out"),
                (.tlsHandshakeTimeout, "no answer to the TLS handshake in time"),
                (.deadlineExceeded, "no answer in time"),
                (.remoteConnectionClosed, "the server closed the connection"),
            ]
            return known.first { $0.0 == clientError }?.1 ?? "\(clientError)"
        }
        if let connectionError = error as? NIOConnectionError {
            if let first = connectionError.connectionErrors.first { return describe(first.error) }
            if connectionError.dnsAError != nil || connectionError.dnsAAAAError != nil {
                return "the host name \(connectionError.host) does not resolve"
            }
        }
        if let ioError = error as? IOError { return String(cString: strerror(ioError.errnoCode)).lowercased() }
        if let parserError = error as? HTTPParserError, parserError == .invalidEOFState {
            return "the connection closed before the whole body arrived"
        }
        if case .uncleanShutdown? = error as? NIOSSLError { return "the server closed the TLS connection" }
        // Never the library's text (BoringSSL's error stack).
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError { return "the TLS connection failed" }
        return String(describing: error)
    }
}
