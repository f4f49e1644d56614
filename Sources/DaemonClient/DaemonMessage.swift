#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One message of a daemon's streamed answer (docker's `jsonmessage`):
/// text for the terminal (`stream`), a progress report (`status`, `id`,
/// `progressDetail`), or an error — which arrives inside a 200 answer,
/// once the daemon has begun to stream.
public struct DaemonMessage: Decodable, Sendable, Equatable {
    public struct Progress: Decodable, Sendable, Equatable {
        /// Bytes done and in all; zero when not said.
        public var current: Int64?
        public var total: Int64?

        public init(current: Int64? = nil, total: Int64? = nil) {
            self.current = current
            self.total = total
        }
    }

    public struct ErrorDetail: Decodable, Sendable, Equatable {
        public var message: String?
    }

    /// Text as the daemon's own client would print it (`Loaded image: x:1\n`).
    public var stream: String?
    /// What is happening (`Loading layer`).
    public var status: String?
    /// What it is happening to (a short layer ID).
    public var id: String?
    public var progressDetail: Progress?
    public var error: String?
    public var errorDetail: ErrorDetail?

    public init(
        stream: String? = nil, status: String? = nil, id: String? = nil, progressDetail: Progress? = nil, error: String? = nil
    ) {
        self.stream = stream
        self.status = status
        self.id = id
        self.progressDetail = progressDetail
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case stream, status, id, progressDetail, error, errorDetail
    }

    /// Field by field: a field of another type than docker's (daemons that
    /// speak the API add and vary fields) reads as absent instead of
    /// losing the message — an error beside it above all.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        stream = try? container.decodeIfPresent(String.self, forKey: .stream)
        status = try? container.decodeIfPresent(String.self, forKey: .status)
        id = try? container.decodeIfPresent(String.self, forKey: .id)
        progressDetail = try? container.decodeIfPresent(Progress.self, forKey: .progressDetail)
        error = try? container.decodeIfPresent(String.self, forKey: .error)
        errorDetail = try? container.decodeIfPresent(ErrorDetail.self, forKey: .errorDetail)
    }

    /// The daemon's words when this message is an error.
    public var errorMessage: String? {
        let detail = errorDetail?.message.flatMap { $0.isEmpty ? nil : $0 }
        return detail ?? error.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The name in a `Loaded image: NAME` line, or the ID in `Loaded image ID: sha256:…`.
    public var loadedImage: LoadedImage? {
        guard let stream else { return nil }
        for line in stream.split(whereSeparator: \.isNewline) {
            if let id = line.strippingPrefix("Loaded image ID: ") { return .id(id) }
            if let name = line.strippingPrefix("Loaded image: ") { return .name(name) }
        }
        return nil
    }

    /// What a `Loaded image` line names.
    public enum LoadedImage: Hashable, Sendable {
        /// `Loaded image: NAME:TAG` (podman may put several names on one line, comma-separated).
        case name(String)
        /// `Loaded image ID: sha256:…`, for an image without a name.
        case id(String)
    }
}

extension Substring {
    fileprivate func strippingPrefix(_ prefix: String) -> String? {
        guard hasPrefix(prefix) else { return nil }
        return String(dropFirst(prefix.count)).trimmedSpaces
    }
}

extension String {
    var trimmedSpaces: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}

/// Cuts a byte stream of concatenated JSON objects — newline-separated as
/// docker writes them, or back to back — into one object each, however
/// the stream is split into chunks.
public struct JSONObjectSplitter: Sendable {
    /// The most one object may hold; a longer one is an error (a daemon
    /// message is a few hundred bytes).
    public static let maximumObjectSize = 1 << 20

    private var pending: [UInt8] = []
    private var depth = 0
    private var inString = false
    private var escaped = false

    public init() {}

    public enum SplitError: Error, Equatable {
        /// Text outside an object that is not white space.
        case unexpected(UInt8)
        /// An object longer than ``maximumObjectSize``.
        case tooLong
    }

    /// Adds `bytes`; returns the objects they completed, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws(SplitError) -> [[UInt8]] {
        var objects: [[UInt8]] = []
        for byte in bytes {
            if depth == 0 {
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): continue
                case UInt8(ascii: "{"): depth = 1; pending = [byte]; continue
                default: throw .unexpected(byte)
                }
            }
            pending.append(byte)
            guard pending.count <= Self.maximumObjectSize else { throw .tooLong }
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    objects.append(pending)
                    pending = []
                }
            default: break
            }
        }
        return objects
    }

    /// Whether an object was begun and not finished (the stream ended in its middle).
    public var isInsideObject: Bool { depth > 0 }
}
