import ImageReference

/// The platform a command was asked for with `--platform`, and what that
/// means for an image that names none of its own (a single image manifest,
/// not an index).
public enum PlatformRequest: Sendable, Hashable, CustomStringConvertible {
    /// Nothing asked: from an index, the host's entry; a single image as it
    /// is, with a warning when its config names another platform.
    case host
    /// This platform: from an index, its entry; a single image only when its
    /// config names this platform (or none).
    case exactly(Platform)
    /// Whatever the image is for: a single image as it is; from an index,
    /// the host's entry when it has one, else the first image.
    case any

    /// Parses `--platform`: `os/arch[/variant]`, `any`, or nothing.
    public init(parsing text: String?) throws(ReferenceError) {
        switch text?.lowercased() {
        case nil: self = .host
        case "any": self = .any
        case let text?: self = .exactly(try Platform(parsing: text))
        }
    }

    /// The platform to pick from an index.
    public func entry(in index: ImageIndex) -> Descriptor? {
        switch self {
        case .host: index.entry(for: .host)
        case .exactly(let platform): index.entry(for: platform)
        case .any: index.entry(for: .host) ?? index.manifests.first { $0.platform.map { $0.os != "unknown" } ?? true }
        }
    }

    /// The platform named, for messages (`any` and the host's spelled out).
    public var description: String {
        switch self {
        case .host: Platform.host.description
        case .exactly(let platform): platform.description
        case .any: "any"
        }
    }
}
