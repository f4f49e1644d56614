import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import Synchronization

/// What happens during a load, as it happens.
public enum LoadEvent: Sendable {
    /// `bytes` more of the archive went to the daemon.
    case sent(bytes: Int)
    /// The daemon said something (progress, a `Loaded image` line).
    case message(DaemonMessage)
}

/// What a load did.
public struct LoadResult: Sendable, Equatable {
    /// What the daemon's `Loaded image` lines named, in order.
    public var loaded: [DaemonMessage.LoadedImage]
    /// Bytes of the archive sent.
    public var bytesSent: Int64

    public init(loaded: [DaemonMessage.LoadedImage], bytesSent: Int64) {
        self.loaded = loaded
        self.bytesSent = bytesSent
    }
}

extension DaemonClient {
    /// Streams an archive into `POST /images/load` and reads the daemon's
    /// answer as it streams (`quiet=0`, so it reports progress). An error
    /// message in the answer — docker reports a broken archive inside a
    /// 200 — and any status outside 2xx throw
    /// ``DaemonError/archiveRefused(_:daemon:message:)`` in the daemon's
    /// own words.
    ///
    /// - Parameters:
    ///   - body: the archive's bytes, read only as the socket takes them.
    ///   - deadline: when the whole load must be done (nil: no limit).
    ///   - events: told of every chunk sent and every message received.
    public func load(
        _ body: ArchiveBody, deadline: ContinuousClock.Instant? = nil, events: (@Sendable (LoadEvent) -> Void)? = nil
    ) async throws -> LoadResult {
        let operation = "loading \(body.archive.name)"
        let sentBytes = ByteCount()
        let chunks = ArchiveBodyChunks(body: body) { count in
            sentBytes.add(count)
            events?(.sent(bytes: count))
        }
        let requestBody = HTTPClientRequest.Body.stream(chunks, length: body.length.map { .known($0) } ?? .unknown)
        return try await within(deadline, operation: operation) {
            let response = try await send(
                .POST, "/images/load?quiet=0", operation: operation, body: requestBody, headers: [("Content-Type", "application/x-tar")])
            guard (200..<300).contains(response.status.code) else {
                let text = Self.errorText(try await collect(response, operation: operation))
                let status = Int(response.status.code)
                if let minimum = Self.minimumVersion(refusal: text, status: status) { throw DaemonError.apiTooNew(endpoint, minimum: minimum) }
                throw DaemonError.archiveRefused(body.archive, daemon: info.description, message: text)
            }
            let loaded = try await readMessages(response, body: body.archive, operation: operation, events: events)
            return LoadResult(loaded: loaded, bytesSent: sentBytes.value)
        }
    }

    /// Reads a streamed answer message by message; the first error message ends it.
    private func readMessages(
        _ response: HTTPClientResponse, body: ArchiveDescription, operation: String, events: (@Sendable (LoadEvent) -> Void)?
    ) async throws -> [DaemonMessage.LoadedImage] {
        var splitter = JSONObjectSplitter()
        var loaded: [DaemonMessage.LoadedImage] = []
        let decoder = JSONDecoder()
        do {
            for try await buffer in response.body {
                let objects: [[UInt8]]
                do {
                    objects = try splitter.feed(buffer.readableBytesView)
                } catch {
                    throw DaemonError.malformedAnswer(endpoint, operation: operation, reason: "its answer is not a stream of JSON messages (\(error))")
                }
                for object in objects {
                    let message: DaemonMessage
                    do {
                        message = try decoder.decode(DaemonMessage.self, from: Data(object))
                    } catch {
                        throw DaemonError.malformedAnswer(endpoint, operation: operation, reason: "a message is not JSON (\(error))")
                    }
                    if let error = message.errorMessage {
                        throw DaemonError.archiveRefused(body, daemon: info.description, message: error)
                    }
                    if let image = message.loadedImage { loaded.append(image) }
                    events?(.message(message))
                }
            }
        } catch {
            throw mapped(error, operation: operation)
        }
        if splitter.isInsideObject {
            throw DaemonError.malformedAnswer(endpoint, operation: operation, reason: "its answer ends inside a message")
        }
        return loaded
    }
}

/// Bytes sent, counted from the connection's side while the result is read from another.
final class ByteCount: Sendable {
    private let count = Atomic<Int64>(0)
    func add(_ bytes: Int) { count.add(Int64(bytes), ordering: .relaxed) }
    var value: Int64 { count.load(ordering: .relaxed) }
}
