#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// Why a TLS connection failed, in the terms a person can act on. Every one
/// is final: no retry can change a certificate.
public enum TLSProblem: Sendable, Equatable {
    /// The chain leads to no trusted root; `issuer` is the CA it leads to
    /// (`CN=…, O=…`), the one to trust.
    case untrusted(issuer: String)
    /// The chain is trusted but names other hosts.
    case hostnameMismatch(names: [String])
    /// The certificate (`subject`) expired at `date`.
    case expired(subject: String, date: Date)
    /// The certificate (`subject`) is valid only from `date`.
    case notYetValid(subject: String, date: Date)
    /// The certificate does not verify and the server could not be asked why.
    case unverified
    /// The server wants a client certificate and none was presented.
    case clientCertificateRequired
    /// The server refused the client certificate presented (the file).
    case clientCertificateRejected(path: String?)
    /// The server answered the TLS handshake in plain http.
    case speaksPlainHTTP
    /// The server closed the connection in the middle of the handshake.
    case closedDuringHandshake
    /// Anything else, in a few words.
    case handshakeFailed(String)
}

/// The kind of a TLS error as the connection reports it, before any
/// inspection of the server's certificate.
enum TLSFailureKind: Equatable {
    /// The certificate did not verify: why is found out by ``TLSInspector``.
    case certificateRejected
    /// The certificate verified but not for this host name.
    case hostnameMismatch
    /// The answer to the handshake was no TLS at all (a plain-http server).
    case notTLS
    /// The connection closed during the handshake.
    case closedDuringHandshake
    /// The server's alert about the client certificate: none, or a bad one.
    case clientCertificateAlert
    /// Another handshake failure, in a few words.
    case other(String)

    /// The kind of `error`, or nil when it is not a TLS error. The
    /// library's error text is matched here for BoringSSL's reason names
    /// and never shown.
    init?(_ error: any Error) {
        let text: String
        switch error {
        case let sslError as NIOSSLError:
            switch sslError {
            // After the handshake: a dropped connection, retried as any other.
            case .uncleanShutdown: return nil
            case .handshakeFailed(let inner): text = String(describing: inner)
            default: text = String(describing: sslError)
            }
        case let extra as NIOSSLExtraError:
            if extra == .failedToValidateHostname || extra == .serverHostnameImpossibleToMatch { self = .hostnameMismatch; return }
            text = String(describing: extra)
        case let boring as BoringSSLError:
            text = String(describing: boring)
        default:
            return nil
        }
        func has(_ reasons: String...) -> Bool { reasons.contains { text.contains($0) } }
        if has("CERTIFICATE_VERIFY_FAILED") {
            self = .certificateRejected
        } else if has("WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_TOO_LARGE", "WRONG_SSL_VERSION") {
            self = .notTLS
        } else if has("EOF during handshake", "eofDuringHandshake") {
            self = .closedDuringHandshake
        } else if has("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN", "ACCESS_DENIED", "CERTIFICATE_EXPIRED", "CERTIFICATE_REVOKED", "UNSUPPORTED_CERTIFICATE") {
            self = .clientCertificateAlert
        } else if has("PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_SHARED_CIPHER", "HANDSHAKE_FAILURE", "NO_CIPHERS_AVAILABLE") {
            self = .other("the server and hocker share no TLS version or cipher")
        } else if has("failedToLoadCertificate", "failedToLoadPrivateKey", "KEY_VALUES_MISMATCH") {
            self = .other("the client certificate and its key do not belong together")
        } else {
            self = .other("")
        }
    }

    /// Whether the server may simply speak plain http (what a bare loopback
    /// or `--insecure` host is tried with next).
    var peerMaySpeakPlainHTTP: Bool { self == .notTLS || self == .closedDuringHandshake }
}

/// Finds out why a server's certificate did not verify, with up to two
/// extra handshakes that only look at it (the connection's own error says
/// no more than "CERTIFICATE_VERIFY_FAILED"): the chain as presented, for
/// its dates and names, then whether it verifies without the host name check.
enum TLSInspector {
    /// The problem with the certificate of `host`:`port` under
    /// `configuration`: a date, else the trust of the chain, else the names.
    static func diagnose(host: String, port: Int, configuration: TLSConfiguration) async -> TLSProblem {
        var withoutHostname = configuration
        withoutHostname.certificateVerification = .noHostnameVerification
        let captured = CapturedChain()
        _ = await handshake(host: host, port: port, configuration: withoutHostname) { chain in captured.chain.withLock { $0 = chain } }
        let chain = captured.chain.withLock { $0 }
        guard let leaf = chain.first else { return .unverified }
        let now = time(nil)
        for certificate in chain {
            if certificate.notValidAfter < now {
                return .expired(subject: distinguishedName(certificate.subjectName), date: Date(timeIntervalSince1970: TimeInterval(certificate.notValidAfter)))
            }
            if certificate.notValidBefore > now {
                return .notYetValid(subject: distinguishedName(certificate.subjectName), date: Date(timeIntervalSince1970: TimeInterval(certificate.notValidBefore)))
            }
        }
        guard await handshake(host: host, port: port, configuration: withoutHostname, capture: nil) else {
            return .untrusted(issuer: distinguishedName(chain.last?.issuerName ?? leaf.issuerName))
        }
        return .hostnameMismatch(names: names(of: leaf))
    }

    /// One handshake with `host`:`port`, within 5 s; whether it completed.
    /// With `capture`, the presented chain is handed to it and accepted.
    private static func handshake(
        host: String, port: Int, configuration: TLSConfiguration, capture: (@Sendable ([NIOSSLCertificate]) -> Void)?
    ) async -> Bool {
        guard let context = try? NIOSSLContext(configuration: configuration) else { return false }
        let serverName = isIPAddress(host) ? nil : host
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.next().makePromise(of: Void.self)
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler: NIOSSLClientHandler
                        if let capture {
                            handler = try NIOSSLClientHandler(context: context, serverHostname: serverName) { chain, promise in
                                capture(chain)
                                promise.succeed(.certificateVerified)
                            }
                        } else {
                            handler = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                        }
                        try channel.pipeline.syncOperations.addHandler(handler)
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(promise: done))
                    }
                }
                .connect(host: host, port: port).get()
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(5)) { done.fail(ChannelError.connectTimeout(.seconds(5))) }
            let completed = (try? await done.futureResult.get()) != nil
            timeout.cancel()
            try? await channel.close()
            return completed
        } catch {
            done.fail(error)
            return false
        }
    }

    /// The chain a server presented, set from the event loop.
    private final class CapturedChain: Sendable {
        let chain = Mutex<[NIOSSLCertificate]>([])
    }

    /// Completes a promise when the handshake completes or fails.
    private final class HandshakeWatcher: ChannelInboundHandler, Sendable {
        typealias InboundIn = NIOAny
        let promise: EventLoopPromise<Void>
        init(promise: EventLoopPromise<Void>) { self.promise = promise }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted? = event as? TLSUserEvent { promise.succeed(()) }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.ioOnClosedChannel)
            context.fireChannelInactive()
        }
    }

    /// `CN=…, O=…`, most specific first (RFC 4514 order).
    static func distinguishedName(_ name: [SSLCertificateName]) -> String {
        let labels: [(SSLCertificateNameType, String)] = [
            (.commonName, "CN"), (.organizationalUnit, "OU"), (.organization, "O"), (.city, "L"), (.state, "ST"), (.country, "C"),
            (.emailAddress, "emailAddress"), (.userId, "UID"),
        ]
        let parts = name.reversed().compactMap { entry in
            labels.first { $0.0 == entry.type }.map { "\($0.1)=\(entry.value)" }
        }
        return parts.isEmpty ? "an unnamed CA" : parts.joined(separator: ", ")
    }

    /// The DNS names and IP addresses a certificate is for (its common name without any).
    static func names(of certificate: NIOSSLCertificate) -> [String] {
        let alternatives = certificate._subjectAlternativeNames().compactMap { name -> String? in
            switch name.nameType {
            case .dnsName: String(decoding: name.contents, as: UTF8.self)
            case .ipAddress: ipAddressText(Array(name.contents))
            default: nil
            }
        }
        if !alternatives.isEmpty { return alternatives }
        return certificate.subjectName.filter { $0.type == .commonName }.map(\.value)
    }

    /// An IP address SAN's bytes as text (4 bytes IPv4, 16 bytes IPv6).
    static func ipAddressText(_ bytes: [UInt8]) -> String? {
        switch bytes.count {
        case 4:
            return bytes.map(String.init).joined(separator: ".")
        case 16:
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok = bytes.withUnsafeBytes { raw in inet_ntop(AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
            return ok ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
        default:
            return nil
        }
    }

    static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
