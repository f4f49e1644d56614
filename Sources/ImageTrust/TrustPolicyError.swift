import ImageReference

/// A containers-policy.json(5) file that hocker, like skopeo, refuses to
/// use: it names the file and the key (as a path into the document,
/// `transports.docker["example.com"][0].keyType`) and what is wrong there.
public struct TrustPolicyError: UserFacingError, Equatable {
    /// What is wrong at ``key``.
    public enum Problem: Sendable, Equatable {
        /// The file is not JSON (the reason says where).
        case notJSON(String)
        /// A key the format does not have (a typo, or a newer feature).
        case unknownKey
        /// A `type` the format does not have.
        case unknownType(String)
        /// A value of the wrong JSON type.
        case wrongType(expected: String, found: String)
        /// A key that must be present is not.
        case missing
        /// A value of the right type that is not acceptable.
        case invalid(String)
    }

    /// The policy file, as the caller named it.
    public var file: String
    /// The key, as a path from the document's top (`""` for the document itself).
    public var key: String
    public var problem: Problem

    public init(file: String, key: String, problem: Problem) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var message: String {
        let place = key.isEmpty ? "policy file \(file)" : "policy file \(file), \(key)"
        switch problem {
        case .notJSON(let reason): return "\(place): not valid JSON: \(reason)"
        case .unknownKey: return "\(place): unknown key"
        case .unknownType(let type): return "\(place): unknown type \"\(type)\""
        case .wrongType(let expected, let found): return "\(place): expected \(expected), found \(found)"
        case .missing: return "\(place): missing"
        case .invalid(let reason): return "\(place): \(reason)"
        }
    }

    public var hints: [String] {
        ["containers-policy.json(5) describes the format; skopeo and podman read the same file and refuse it too"]
    }

    public var exitStatus: ExitStatus { .usage }
}
