import ImageReference

/// The platforms a run asks for with `--platform`, parsed once at the edge.
///
/// What each means depends on what the reference names: from an index the
/// entries are picked; a single image manifest says nothing of its platform,
/// so its config is read and compared when the choice names platforms.
public enum PlatformChoice: Sendable, Hashable, CustomStringConvertible {
    /// Nothing asked: from an index, this machine's entry; a single image as
    /// it is, with a warning when its config names another platform.
    case host
    /// These platforms, in this order (never empty, no two alike): from an
    /// index each one's entry, all required; a single image only when its
    /// config names the one platform asked (or names none).
    case platforms([Platform])
    /// Every image of an index (`--platform all`); a single image as it is.
    case all
    /// Whatever the image is for (`--platform any`): a single image as it
    /// is; from an index, this machine's entry when it has one, else the first image.
    case any

    /// The words that are not `os/arch[/variant]`.
    public static let allWord = "all"
    public static let anyWord = "any"

    /// Parses the `--platform` values of a command line: none, `all` or
    /// `any` alone, or `os/arch[/variant]` values (a value given twice counts once).
    public init(parsing values: [String]) throws(PlatformChoiceError) {
        let words = values.map { $0.lowercased() }
        for word in [Self.allWord, Self.anyWord] where words.contains(word) {
            guard words.count == 1 else { throw .notAlone(word) }
            self = word == Self.allWord ? .all : .any
            return
        }
        guard !values.isEmpty else {
            self = .host
            return
        }
        var platforms: [Platform] = []
        for value in values {
            let platform: Platform
            do {
                platform = try Platform(parsing: value)
            } catch {
                throw .invalid(error)
            }
            if !platforms.contains(where: { $0.matches(platform) }) { platforms.append(platform) }
        }
        self = .platforms(platforms)
    }

    /// One platform: the choice of a command that takes at most one.
    public static func exactly(_ platform: Platform) -> PlatformChoice { .platforms([platform]) }

    /// Whether the user named platforms (or `all`/`any`), rather than leaving the default.
    public var isExplicit: Bool { self != .host }

    /// How many images the choice may pick: one, or several.
    public var picksOne: Bool {
        switch self {
        case .host, .any: true
        case .platforms(let platforms): platforms.count == 1
        case .all: false
        }
    }

    /// The platforms named, the host's for `.host`; nil for `all` and `any`.
    public var namedPlatforms: [Platform]? {
        switch self {
        case .host: [.host]
        case .platforms(let platforms): platforms
        case .all, .any: nil
        }
    }

    /// The values that give this choice again, as a lock file records them.
    public var recorded: [String] {
        switch self {
        case .host: []
        case .platforms(let platforms): platforms.map(\.description)
        case .all: [Self.allWord]
        case .any: [Self.anyWord]
        }
    }

    public var description: String {
        switch self {
        case .host: Platform.host.description
        case .platforms(let platforms): platforms.map(\.description).joined(separator: ", ")
        case .all: Self.allWord
        case .any: Self.anyWord
        }
    }
}

/// `--platform` values that do not make a choice.
public enum PlatformChoiceError: UserFacingError, Equatable {
    /// `all` or `any` given beside other values.
    case notAlone(String)
    /// A value that is not `os/arch[/variant]`.
    case invalid(ReferenceError)
    /// Several platforms given to a command that takes one.
    case several(count: Int, command: String)

    public var exitStatus: ExitStatus { .usage }

    public var message: String {
        switch self {
        case .notAlone(let word): "--platform \(word) takes no other --platform"
        case .invalid(let error): error.message
        case .several(let count, let command): "--platform is given \(count) times; \(command) takes one"
        }
    }

    public var hints: [String] {
        switch self {
        case .several: ["several platforms: hocker image --format oci, hocker lock add, or docker2nix --format hocker"]
        default: []
        }
    }
}
