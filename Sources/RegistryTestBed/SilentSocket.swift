import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A unix socket that never answers: bound and not listening (what a
/// daemon that died leaves behind: a connect is refused), or listening
/// and accepting connections it never reads or writes (a daemon that hangs).
public final class SilentSocket: Sendable {
    public let path: String
    private let descriptor: Int32
    private let accepted = NIOLockedValueBox<[Int32]>([])

    public init(path: String, listening: Bool) throws {
        self.path = path
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestBedError.fileSystem(path: path, reason: String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(descriptor)
            throw TestBedError.fileSystem(path: path, reason: "the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, !listening || listen(descriptor, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw TestBedError.fileSystem(path: path, reason: reason)
        }
        self.descriptor = descriptor
        if listening {
            Thread { [accepted] in
                while true {
                    let client = accept(descriptor, nil, nil)
                    if client < 0 {
                        if errno == EINTR { continue }
                        return
                    }
                    accepted.withLockedValue { $0.append(client) }
                }
            }.start()
        }
    }

    /// Closes it and every connection, and removes the socket file.
    public func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        for client in accepted.withLockedValue({ list in defer { list = [] }; return list }) { close(client) }
        unlink(path)
    }

    deinit {
        stop()
        close(descriptor)
    }
}
