#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// The secrets a run knows of — passwords, tokens, their Basic encodings —
/// so anything printed can be scrubbed of them first. Credentials never go
/// into messages by design; this is the second line of defence, for text
/// that comes from elsewhere (a server's error body, a library's error).
///
/// Credential sources register what they resolve, the token flow registers
/// the tokens it receives; the command line redacts its log and error output.
/// One instance per run, handed to the resolver and the client.
public final class SecretRedactor: Sendable {
    /// What a secret is replaced with.
    public static let mask = "***"

    /// Secrets shorter than this are not searched for: masking every "ab"
    /// in a log would hide more than it protects.
    static let minimumLength = 4

    private let secrets = Mutex<Set<String>>([])

    public init() {}

    /// Remembers `secret` (and nothing when it is too short to search for).
    public func register(_ secret: String) {
        guard secret.count >= Self.minimumLength else { return }
        secrets.withLock { _ = $0.insert(secret) }
    }

    /// Remembers every secret of a credential.
    public func register(_ credential: Credential) {
        for secret in credential.secrets { register(secret) }
    }

    /// `text` with every known secret replaced by `***`, longest first so a
    /// secret containing another is masked whole.
    public func redact(_ text: String) -> String {
        let known = secrets.withLock { $0 }
        guard !known.isEmpty else { return text }
        var result = text
        for secret in known.sorted(by: { $0.count > $1.count }) where result.contains(secret) {
            result = result.replacing(secret, with: Self.mask)
        }
        return result
    }
}
