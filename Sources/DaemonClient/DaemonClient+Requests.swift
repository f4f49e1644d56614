import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What came first: the work, or its deadline.
enum DeadlineOutcome<Value: Sendable>: Sendable {
    case finished(Value)
    case expired
}

/// The one request path: URLs under the negotiated version, the deadline,
/// and connection failures turned into errors a person understands.
extension DaemonClient {
    /// Sends a request and returns once the answer's head has arrived;
    /// its body is the caller's to read.
    ///
    /// - Parameter versioned: under `/v<negotiated>/` (every call but the
    ///   ping and version that negotiate it).
    func send(
        _ method: HTTPMethod, _ path: String, operation: String, versioned: Bool = true, body: HTTPClientRequest.Body? = nil,
        headers: [(String, String)] = []
    ) async throws -> HTTPClientResponse {
        let uri = versioned ? "/v\(info.negotiated)\(path)" : path
        var request = HTTPClientRequest(url: Self.url(socketPath: endpoint.socketPath, uri: uri))
        request.method = method
        // HTTP/1.1 requires a Host; Go's server (docker, podman) refuses a request without one.
        request.headers.add(name: "Host", value: "docker")
        request.headers.add(name: "User-Agent", value: "hocker")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = body
        do {
            return try await http.execute(request, deadline: .distantFuture)
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    /// `http+unix://<socket path, percent-encoded>/<uri>`, as AsyncHTTPClient takes a unix socket.
    static func url(socketPath: String, uri: String) -> String {
        "http+unix://" + queryEncoded(socketPath) + uri
    }

    /// The whole body of a small answer (at most `limit` bytes).
    func collect(_ response: HTTPClientResponse, operation: String, limit: Int = 4 << 20) async throws -> [UInt8] {
        do {
            var buffer = try await response.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            throw mapped(error, operation: operation)
        }
    }

    /// Runs `body`, and ends it with ``DaemonError/timedOut(operation:endpoint:seconds:)``
    /// at `deadline` (nil: never).
    func within<Result: Sendable>(
        _ deadline: ContinuousClock.Instant?, operation: String, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await Self.within(deadline, endpoint: endpoint, operation: operation, body)
    }

    static func within<Result: Sendable>(
        _ deadline: ContinuousClock.Instant?, endpoint: DaemonEndpoint, operation: String, _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        guard let deadline else { return try await body() }
        let started = ContinuousClock.now
        return try await withThrowingTaskGroup(of: DeadlineOutcome<Result>.self) { group in
            group.addTask { .finished(try await body()) }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return .expired
            }
            defer { group.cancelAll() }
            let next: DeadlineOutcome<Result>?
            do {
                next = try await group.next()
            } catch {
                // Cancelled as the deadline passed (the run's time limit ends all its work at once): said as this deadline.
                guard ContinuousClock.now >= deadline else { throw error }
                next = .expired
            }
            guard let first = next else { throw CancellationError() }
            switch first {
            case .finished(let value):
                return value
            case .expired:
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                throw DaemonError.timedOut(operation: operation, endpoint: endpoint, seconds: seconds)
            }
        }
    }

    /// A failure of the connection as a ``DaemonError``: the errno of a
    /// failed connect says whether nothing listens or this user may not.
    func mapped(_ error: any Error, operation: String) -> any Error {
        Self.mapped(error, endpoint: endpoint, operation: operation)
    }

    static func mapped(_ error: any Error, endpoint: DaemonEndpoint, operation: String) -> any Error {
        if error is DaemonError || error is CancellationError { return error }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ENOENT: return DaemonError.noDaemon(endpoint, .missing)
            case ECONNREFUSED: return DaemonError.noDaemon(endpoint, .refused)
            case ENOTSOCK: return DaemonError.noDaemon(endpoint, .notASocket)
            case EACCES, EPERM: return DaemonError.permissionDenied(endpoint, group: socketGroup(endpoint.socketPath))
            default: return DaemonError.connection(endpoint, operation: operation, reason: io.description)
            }
        }
        if let client = error as? HTTPClientError {
            switch client {
            case .remoteConnectionClosed: return DaemonError.connection(endpoint, operation: operation, reason: "the daemon closed the connection")
            case .connectTimeout: return DaemonError.connection(endpoint, operation: operation, reason: "connecting timed out")
            case .cancelled: return CancellationError()
            default: return DaemonError.connection(endpoint, operation: operation, reason: "\(client)")
            }
        }
        return DaemonError.connection(endpoint, operation: operation, reason: "\(error)")
    }

    /// Before the first connection: a path that is missing or not a socket,
    /// or a socket this user may not open, is said as such — clearer than
    /// what a failed connect reports.
    static func checkSocket(_ endpoint: DaemonEndpoint) throws(DaemonError) {
        var status = stat()
        guard stat(endpoint.socketPath, &status) == 0 else {
            if errno == EACCES { throw .permissionDenied(endpoint, group: nil) }
            throw .noDaemon(endpoint, .missing)
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw .noDaemon(endpoint, .notASocket) }
        // Connecting to a unix socket needs write permission on it.
        if access(endpoint.socketPath, W_OK) != 0, errno == EACCES {
            throw .permissionDenied(endpoint, group: socketGroup(endpoint.socketPath))
        }
    }

    /// The name of the group that owns the socket (`docker`; `root` when
    /// only root may use it); nil when the socket cannot be read.
    static func socketGroup(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getgrgid_r(status.st_gid, &group, &buffer, buffer.count, &result) == 0, result != nil, let name = group.gr_name else {
            return status.st_gid == 0 ? "root" : "gid \(status.st_gid)"
        }
        return String(cString: name)
    }
}
