import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Plain HTTP/1.0 requests over a unix socket, without any client library:
/// how the test bed asks a daemon whether it is up, and what it holds,
/// independently of the code under test.
public enum UnixHTTP {
    /// The status and body of `METHOD path` at `socketPath`.
    ///
    /// - Throws: ``TestBedError/httpFailed(url:reason:)`` when the socket cannot be
    ///   reached or the answer is not HTTP.
    public static func request(_ method: String, _ path: String, socketPath: String, timeout: Duration = .seconds(10)) throws -> (status: Int, body: Data) {
        let url = "unix://\(socketPath)\(path)"
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestBedError.httpFailed(url: url, reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var seconds = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        try connectSocket(descriptor, to: socketPath, url: url)
        let request = "\(method) \(path) HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n"
        let sent = request.withCString { send(descriptor, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        guard sent == request.utf8.count else { throw TestBedError.httpFailed(url: url, reason: "the request could not be sent") }
        var answer = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw TestBedError.httpFailed(url: url, reason: String(cString: strerror(errno))) }
            if count == 0 { break }
            answer.append(contentsOf: buffer[0..<count])
        }
        guard let headEnd = answer.range(of: Data("\r\n\r\n".utf8)),
              let statusLine = String(data: answer[..<headEnd.lowerBound], encoding: .utf8)?.split(separator: "\r\n").first,
              statusLine.hasPrefix("HTTP/"), let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else {
            throw TestBedError.httpFailed(url: url, reason: "the answer is not HTTP")
        }
        return (status, Data(answer[headEnd.upperBound...]))
    }

    /// The JSON object of a 200 answer, or nil for any other status.
    public static func json(_ path: String, socketPath: String) throws -> [String: Any]? {
        let (status, body) = try request("GET", path, socketPath: socketPath)
        guard status == 200 else { return nil }
        return try JSONSerialization.jsonObject(with: body) as? [String: Any]
    }

    private static func connectSocket(_ descriptor: Int32, to socketPath: String, url: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw TestBedError.httpFailed(url: url, reason: "the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in pathBytes.enumerated() { raw[index] = byte }
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw TestBedError.httpFailed(url: url, reason: String(cString: strerror(errno))) }
    }
}
