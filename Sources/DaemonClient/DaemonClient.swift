import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageReference
import NIOCore
import NIOHTTP1

/// The Docker Engine API of a daemon on a unix socket — the Docker engine's,
/// or podman's Docker-compatible service — at the API version both sides
/// speak. Made by ``connect(to:connectTimeout:deadline:_:)``, which asks the
/// daemon what it is first.
///
/// Every call takes a deadline (nil: none) and stops when its task is
/// cancelled; a load's request body and the daemon's streamed answer are
/// bounded by it too, not only the wait for the answer's head.
public struct DaemonClient: Sendable {
    public let endpoint: DaemonEndpoint
    /// The daemon, and the API version requests are made in.
    public let info: DaemonInfo
    let http: HTTPClient

    /// Opens an HTTP client on `endpoint`'s socket, asks the daemon its API
    /// version (`/_ping`, then `/version`), runs `body` with the client and
    /// shuts it down.
    ///
    /// - Parameters:
    ///   - connectTimeout: how long connecting may take (default 5 s).
    ///   - deadline: when the ping and version must have answered.
    public static func connect<Result: Sendable>(
        to endpoint: DaemonEndpoint, connectTimeout: Duration = .seconds(5), deadline: ContinuousClock.Instant? = nil,
        _ body: (DaemonClient) async throws -> Result
    ) async throws -> Result {
        let http = makeHTTPClient(connectTimeout: connectTimeout)
        do {
            let info = try await negotiate(http: http, endpoint: endpoint, deadline: deadline)
            let result = try await body(DaemonClient(endpoint: endpoint, info: info, http: http))
            try? await http.shutdown()
            return result
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    /// One client, HTTP/1.1, no read timeout: a daemon may say nothing for
    /// minutes while it unpacks a large layer, and every call has its deadline.
    static func makeHTTPClient(connectTimeout: Duration) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .nanoseconds(Int64(connectTimeout.components.seconds) * 1_000_000_000 + connectTimeout.components.attoseconds / 1_000_000_000)),
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        // A socket with nothing behind it should say so now, not be retried until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Does the daemon hold an image with this ID (`sha256:` + its config's digest)?
    /// Its details when it does, nil when it does not (`GET /images/{id}/json`).
    public func image(_ id: Digest, deadline: ContinuousClock.Instant? = nil) async throws -> ImageDetails? {
        let operation = "the lookup of image \(id)"
        return try await within(deadline, operation: operation) {
            let response = try await send(.GET, "/images/\(id)/json", operation: operation)
            switch response.status.code {
            case 200:
                let bytes = try await collect(response, operation: operation)
                do {
                    return try JSONDecoder().decode(ImageDetails.self, from: Data(bytes))
                } catch {
                    throw DaemonError.malformedAnswer(endpoint, operation: operation, reason: "\(error)")
                }
            case 404:
                return nil
            default:
                throw try await failure(response, operation: operation)
            }
        }
    }

    /// Gives the image `id` the name `reference` (`repository:tag`), moving
    /// the name from any image that had it (`POST /images/{id}/tag`).
    public func tag(_ id: Digest, as reference: TagName, deadline: ContinuousClock.Instant? = nil) async throws {
        let operation = "tagging \(id.short) as \(reference)"
        try await within(deadline, operation: operation) {
            let query = "repo=\(Self.queryEncoded(reference.repository))&tag=\(Self.queryEncoded(reference.tag))"
            let response = try await send(.POST, "/images/\(id)/tag?\(query)", operation: operation)
            guard (200..<300).contains(response.status.code) else {
                throw try await failure(response, operation: operation)
            }
            _ = try await collect(response, operation: operation)
        }
    }

    /// The daemon's answer to an operation outside the 2xx range, as an error in its words.
    func failure(_ response: HTTPClientResponse, operation: String) async throws -> DaemonError {
        let text = Self.errorText(try await collect(response, operation: operation))
        let status = Int(response.status.code)
        if let minimum = Self.minimumVersion(refusal: text, status: status) { return .apiTooNew(endpoint, minimum: minimum) }
        return .failed(operation: operation, daemon: info.description, status: status, message: text)
    }

    /// The oldest API version a daemon accepts, from its refusal of an older
    /// one: docker answers 400 `client version 1.41 is too old. Minimum
    /// supported API version is 1.44, please upgrade your client…`.
    static func minimumVersion(refusal text: String, status: Int) -> APIVersion? {
        guard status == 400, let range = text.firstRange(of: "Minimum supported API version is ") else { return nil }
        var number = text[range.upperBound...].prefix { $0.isNumber || $0 == "." }
        while number.last == "." { number.removeLast() }
        return APIVersion(number)
    }

    /// The `message` of a daemon's JSON error body, else the body as text.
    static func errorText(_ bytes: [UInt8]) -> String {
        struct Body: Decodable { var message: String? }
        if let message = (try? JSONDecoder().decode(Body.self, from: Data(bytes)))?.message, !message.isEmpty {
            return message
        }
        let text = String(decoding: bytes.prefix(2000), as: UTF8.self).trimmedSpaces
        return text.isEmpty ? "(no message)" : text
    }

    /// `value` percent-encoded for a query (`/` and `:` too).
    static func queryEncoded(_ value: String) -> String {
        var encoded = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                encoded.append(Character(Unicode.Scalar(byte)))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return encoded
    }
}

/// What `GET /images/{id}/json` says of an image (the little hocker reads).
public struct ImageDetails: Decodable, Sendable, Equatable {
    /// `sha256:<hex>`.
    public var id: String
    /// Its names (`repository:tag`; docker shortens Docker Hub's, podman spells them out).
    public var repoTags: [String]

    public init(id: String, repoTags: [String]) {
        self.id = id
        self.repoTags = repoTags
    }

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case repoTags = "RepoTags"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        repoTags = try container.decodeIfPresent([String].self, forKey: .repoTags) ?? []
    }
}

/// An image name as the tag endpoint takes it: a repository (with its
/// registry, `127.0.0.1:5000/app`) and a tag.
public struct TagName: Hashable, Sendable, CustomStringConvertible {
    public var repository: String
    public var tag: String

    public init(repository: String, tag: String) {
        self.repository = repository
        self.tag = tag
    }

    /// Splits `repository:tag` at the colon after the last `/`; nil without a tag, or for a digest reference.
    public init?(_ text: String) {
        guard !text.contains("@"), let colon = text.lastIndex(of: ":"), !text[colon...].contains("/") else { return nil }
        repository = String(text[..<colon])
        tag = String(text[text.index(after: colon)...])
        guard !repository.isEmpty, !tag.isEmpty else { return nil }
    }

    public var description: String { "\(repository):\(tag)" }
}
