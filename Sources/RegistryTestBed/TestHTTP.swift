import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A response received by ``TestHTTP``.
public struct TestHTTPResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The response headers, in order.
    public var headers: [(name: String, value: String)]
    /// The complete response body.
    public var body: Data

    /// The first value of header `name` (case-insensitive), if present.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The body decoded as UTF-8.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A deliberately tiny HTTP/1.1 client for the test bed's own needs
/// (readiness probes, hand-driven token flows). Not a substitute for the
/// project's client: over https it does not verify the server at all.
public enum TestHTTP {
    /// The `NAME.cert`/`NAME.key` pair in a certs.d-style directory, if any.
    public static func clientCertificate(in directory: String) -> TestCertificate? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        guard let cert = names.first(where: { $0.hasSuffix(".cert") }) else { return nil }
        return TestCertificate(certificatePath: directory + "/" + cert, keyPath: directory + "/" + cert.dropLast(5) + ".key")
    }

    /// Performs one request on a fresh connection and returns the whole response.
    ///
    /// - Parameters:
    ///   - method: the HTTP method, e.g. `"GET"`.
    ///   - url: an `http://` URL.
    ///   - headers: extra request headers.
    ///   - body: an optional request body (sent with `Content-Length`).
    ///   - timeout: the connection is closed (and an error thrown) after this long.
    ///   - clientCertificate: presented over https.
    public static func request(
        _ method: String = "GET",
        _ url: String,
        headers: [(String, String)] = [],
        body: Data? = nil,
        timeout: Duration = .seconds(10),
        clientCertificate: TestCertificate? = nil
    ) async throws -> TestHTTPResponse {
        // On the servers' executor: its `timeout` is the server's to meet, not a busy concurrency pool's.
        try await withTaskExecutorPreference(ServerExecutor.shared) {
            try await perform(method, url, headers: headers, body: body, timeout: timeout, clientCertificate: clientCertificate)
        }
    }

    private static func perform(
        _ method: String, _ url: String, headers: [(String, String)], body: Data?, timeout: Duration, clientCertificate: TestCertificate?
    ) async throws -> TestHTTPResponse {
        // URLComponents keeps a trailing slash in the path (URL.path drops it: /v2/ != /v2).
        guard let parsed = URLComponents(string: url), parsed.scheme == "http" || parsed.scheme == "https", let host = parsed.host else {
            throw TestBedError.httpFailed(url: url, reason: "only absolute http:// and https:// URLs are supported")
        }
        let secure = parsed.scheme == "https"
        let port = parsed.port ?? (secure ? 443 : 80)
        var sslContext: NIOSSLContext?
        if secure {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            if let clientCertificate {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(clientCertificate.certificatePath).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: clientCertificate.keyPath, format: .pem))
            }
            sslContext = try NIOSSLContext(configuration: tls)
        }
        var target = parsed.percentEncodedPath.isEmpty ? "/" : parsed.percentEncodedPath
        if let query = parsed.percentEncodedQuery { target += "?" + query }

        var requestHeaders = HTTPHeaders()
        requestHeaders.add(name: "Host", value: parsed.port.map { "\(host):\($0)" } ?? host)
        requestHeaders.add(name: "Connection", value: "close")
        for (name, value) in headers { requestHeaders.add(name: name, value: value) }
        if let body { requestHeaders.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        let head = HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: method), uri: target, headers: requestHeaders)

        let timeAmount = TimeAmount.nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
            + Int64(timeout.components.attoseconds / 1_000_000_000))
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(timeAmount)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
            let underlying = channel.channel
            let watchdog = underlying.eventLoop.scheduleTask(in: timeAmount) {
                underlying.close(promise: nil)
            }
            defer { watchdog.cancel() }

            return try await channel.executeThenClose { inbound, outbound in
                try await outbound.write(.head(head))
                if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
                try await outbound.write(.end(nil))

                var response = TestHTTPResponse(status: 0, headers: [], body: Data())
                var complete = false
                for try await part in inbound {
                    switch part {
                    case .head(let responseHead):
                        response.status = Int(responseHead.status.code)
                        response.headers = responseHead.headers.map { ($0.name, $0.value) }
                    case .body(let buffer):
                        response.body.append(contentsOf: buffer.readableBytesView)
                    case .end:
                        complete = true
                    }
                    if complete { break }
                }
                guard complete else {
                    throw TestBedError.httpFailed(url: url, reason: "connection closed before the response was complete (timeout \(timeout)?)")
                }
                return response
            }
        } catch let error as TestBedError {
            throw error
        } catch {
            throw TestBedError.httpFailed(url: url, reason: "\(error)")
        }
    }
}
