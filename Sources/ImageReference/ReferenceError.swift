/// Input that does not name an image, a digest, a platform or a registry.
///
/// These are the user's mistakes, found before any network traffic; the
/// command line reports them as usage errors (exit status 2).
public enum ReferenceError: UserFacingError, Equatable {
    case invalidDigest(String)
    case invalidReference(String, reason: String)
    case invalidTag(String)
    case invalidPlatform(String)
    case invalidRegistry(String, reason: String)

    public var exitStatus: ExitStatus { .usage }

    public var message: String {
        switch self {
        case .invalidDigest(let text):
            "invalid digest '\(text)': expected sha256: followed by 64 lowercase hex characters (or sha512: and 128)"
        case .invalidReference(let text, let reason):
            "invalid image reference '\(text)': \(reason)"
        case .invalidTag(let text):
            "invalid tag '\(text)': a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        case .invalidPlatform(let text):
            "invalid platform '\(text)': expected os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm64/v8"
        case .invalidRegistry(let text, let reason):
            "invalid registry '\(text)': \(reason)"
        }
    }
}
