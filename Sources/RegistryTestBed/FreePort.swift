import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// Binds a socket to `127.0.0.1:0`, reads the port the kernel chose and closes the
/// socket. Another process may grab the port before the caller binds it, so callers
/// that start servers should retry on "address already in use".
public func freePort() throws(TestBedError) -> Int {
    #if os(Linux)
    let socketType = Int32(SOCK_STREAM.rawValue)
    #else
    let socketType = SOCK_STREAM
    #endif
    let descriptor = socket(AF_INET, socketType, 0)
    guard descriptor >= 0 else { throw .noFreePort(reason: "socket(): \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }

    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    #if !os(Linux)
    address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
    #endif
    let length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
    }
    guard bound == 0 else { throw .noFreePort(reason: "bind(): \(String(cString: strerror(errno)))") }

    var actual = sockaddr_in()
    var actualLength = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &actual) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &actualLength) }
    }
    guard named == 0 else { throw .noFreePort(reason: "getsockname(): \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: actual.sin_port))
}
