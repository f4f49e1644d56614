import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A unix socket in front of a daemon's socket that passes every byte
/// through and counts them: what a client sent the daemon (a load that
/// sent no layer sent a few hundred bytes of requests), and what came back.
///
/// It can also hold up the requests that carry a given text (a tag
/// request), to widen the moment a test interrupts the client in: each by
/// a delay, or the first until the test lets it go (``release()``), so
/// that what the test does meanwhile is ordered by the proxy, not by time.
///
/// Threads and blocking sockets: a connection is two pumps, one per direction.
public final class CountingSocketProxy: Sendable {
    /// The socket clients connect to.
    public let socketPath: String
    /// The daemon's socket.
    public let targetPath: String
    private let listener: Int32
    private let counts = NIOLockedValueBox<(toDaemon: Int, fromDaemon: Int, connections: Int, open: Set<Int32>, stopped: Bool)>((0, 0, 0, [], false))
    /// Requests whose bytes contain this are held up by `delay` before they go on.
    private let delayed: (marker: [UInt8], delay: Duration)?
    private let delayedSeen = NIOLockedValueBox(0)
    /// Whether the first delayed request waits for ``release()`` instead.
    private let holdsFirst: Bool
    private let gate = DispatchSemaphore(value: 0)

    /// How many chunks carrying the delayed text clients have sent so far.
    public var delayedRequests: Int { delayedSeen.withLockedValue { $0 } }

    /// `unix://PATH`, as `--host` takes it.
    public var host: String { "unix://\(socketPath)" }

    /// Bytes clients sent to the daemon so far.
    public var bytesToDaemon: Int { counts.withLockedValue { $0.toDaemon } }
    /// Bytes the daemon sent back so far.
    public var bytesFromDaemon: Int { counts.withLockedValue { $0.fromDaemon } }
    /// Connections accepted so far.
    public var connections: Int { counts.withLockedValue { $0.connections } }

    /// Starts listening at `socketPath` and forwarding to `targetPath`.
    ///
    /// - Parameters:
    ///   - delaying: requests whose bytes contain `text` wait `delay`
    ///     before they reach the daemon (the text within one read of the socket).
    ///   - holdingFirst: the first of them waits instead until ``release()``
    ///     (at most a minute, so that a test that fails does not hang).
    public init(socketPath: String, targetPath: String, delaying: (text: String, delay: Duration)? = nil, holdingFirst: Bool = false) throws {
        self.socketPath = socketPath
        self.targetPath = targetPath
        delayed = delaying.map { (Array($0.text.utf8), $0.delay) }
        holdsFirst = holdingFirst
        unlink(socketPath)
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestBedError.fileSystem(path: socketPath, reason: String(cString: strerror(errno))) }
        var address = try Self.address(socketPath)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw TestBedError.fileSystem(path: socketPath, reason: "cannot listen: \(reason)")
        }
        listener = descriptor
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Lets the held request go on (``init(socketPath:targetPath:delaying:holdingFirst:)``).
    public func release() {
        gate.signal()
    }

    /// Zeroes the counts.
    public func reset() {
        counts.withLockedValue {
            $0.toDaemon = 0
            $0.fromDaemon = 0
            $0.connections = 0
        }
    }

    /// Stops accepting, closes every connection and removes the socket.
    public func stop() {
        let open = counts.withLockedValue { state -> Set<Int32> in
            guard !state.stopped else { return [] }
            state.stopped = true
            return state.open
        }
        shutdown(listener, Int32(SHUT_RDWR))
        for descriptor in open { shutdown(descriptor, Int32(SHUT_RDWR)) }
        unlink(socketPath)
    }

    deinit { stop() }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                // Only a stopped listener ends the loop: an interrupted or
                // aborted accept, or a moment without descriptors, is not
                // the end of the daemon's socket.
                let failure = errno
                if failure != EBADF && failure != EINVAL && !counts.withLockedValue({ $0.stopped }) {
                    if failure != EINTR && failure != ECONNABORTED { usleep(10_000) }
                    continue
                }
                close(listener)
                return
            }
            let upstream = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard upstream >= 0, var address = try? Self.address(targetPath),
                  withUnsafePointer(to: &address, {
                      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                  }) == 0
            else {
                close(client)
                if upstream >= 0 { close(upstream) }
                continue
            }
            let stopped = counts.withLockedValue { state -> Bool in
                state.connections += 1
                state.open.formUnion([client, upstream])
                return state.stopped
            }
            if stopped {
                close(client)
                close(upstream)
                return
            }
            let remaining = NIOLockedValueBox(2)
            let finish: @Sendable () -> Void = { [counts] in
                let last = remaining.withLockedValue { value -> Bool in
                    value -= 1
                    return value == 0
                }
                guard last else { return }
                counts.withLockedValue { $0.open.subtract([client, upstream]) }
                close(client)
                close(upstream)
            }
            let (delayed, holdsFirst, gate) = (delayed, holdsFirst, gate)
            Thread { [counts, delayedSeen] in
                Self.pump(from: client, to: upstream) { chunk in
                    counts.withLockedValue { $0.toDaemon += chunk.count }
                    if let delayed, Self.contains(chunk, delayed.marker) {
                        let seen = delayedSeen.withLockedValue { seen -> Int in
                            seen += 1
                            return seen
                        }
                        if holdsFirst, seen == 1 {
                            _ = gate.wait(timeout: .now() + 60)
                        } else {
                            Thread.sleep(forTimeInterval: Double(delayed.delay.components.seconds) + Double(delayed.delay.components.attoseconds) / 1e18)
                        }
                    }
                }
                finish()
            }.start()
            Thread { [counts] in
                Self.pump(from: upstream, to: client) { chunk in counts.withLockedValue { $0.fromDaemon += chunk.count } }
                finish()
            }.start()
        }
    }

    /// Copies until the source ends, then half-closes the destination;
    /// `received` sees each chunk before it goes on.
    private static func pump(from source: Int32, to destination: Int32, received: (ArraySlice<UInt8>) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        loop: while true {
            let count = recv(source, &buffer, buffer.count, 0)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            received(buffer[..<count])
            var offset = 0
            while offset < count {
                let written = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL)) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { break loop }
                offset += written
            }
        }
        shutdown(destination, Int32(SHUT_WR))
    }

    private static func contains(_ chunk: ArraySlice<UInt8>, _ marker: [UInt8]) -> Bool {
        !marker.isEmpty && chunk.firstRange(of: marker) != nil
    }

    private static func address(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw TestBedError.fileSystem(path: path, reason: "the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }
}
