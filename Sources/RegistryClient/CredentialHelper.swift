#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How long a credential helper may take: its own bound (30 s by default),
/// or less when that is what the run's time limit leaves.
public struct HelperTimeout: Sendable, Hashable {
    public var duration: Duration
    /// Whether `duration` is what the run's time limit left.
    public var byRunLimit: Bool

    public init(_ duration: Duration, byRunLimit: Bool = false) {
        self.duration = duration
        self.byRunLimit = byRunLimit
    }

    /// `bound`, or what `deadline` leaves less half a second, so that the helper's
    /// own error, which names it, comes before the run's bare time limit.
    public static func within(_ bound: Duration, deadline: Deadline) -> HelperTimeout {
        guard let remaining = deadline.remaining, remaining < bound else { return HelperTimeout(bound) }
        return HelperTimeout(max(.zero, remaining - .milliseconds(500)), byRunLimit: true)
    }
}

/// A docker credential helper (`docker-credential-NAME get`), run once per
/// server by ``CredentialResolver`` as a ``BoundedProcess``.
struct CredentialHelper: Sendable {
    /// `NAME` of `docker-credential-NAME`.
    var name: String
    /// The environment it runs in, whose `PATH` it is found on.
    var environment: [String: String]
    /// Where its process group is registered while it runs.
    var children: ChildProcesses?

    /// Its answer for `serverURL`: the credential, or nil when it has none
    /// ("credentials not found"). Throws when it cannot be run, fails, or
    /// does not answer within `timeout`.
    func get(serverURL: String, timeout: HelperTimeout) async throws(RegistryError) -> ResolvedCredential? {
        let program = "docker-credential-\(name)"
        guard let path = Self.find(program, path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") else {
            throw .credentialHelper(name: name, detail: "\(program) is not on PATH")
        }
        let outcome: BoundedProcess.Outcome
        do {
            let helper = BoundedProcess(
                executable: path, arguments: ["get"], environment: environment, input: Array(serverURL.utf8), children: children)
            outcome = try await helper.run(timeout: timeout.duration)
        } catch {
            throw .credentialHelper(name: name, detail: "cannot start it: \(error)")
        }
        return try answer(outcome, timeout: timeout)
    }

    /// The credential in a helper's answer, or the error it amounts to.
    private func answer(_ outcome: BoundedProcess.Outcome, timeout: HelperTimeout) throws(RegistryError) -> ResolvedCredential? {
        switch outcome {
        case .timedOut:
            throw .credentialHelperTimedOut(name: name, after: timeout.duration, byRunLimit: timeout.byRunLimit)
        case .killed(let signal):
            throw .credentialHelper(name: name, detail: "it was killed by signal \(signal)")
        case .exited(let status, let stdout, let stderr):
            let errorText = String(decoding: stderr, as: UTF8.self)
            guard status == 0 else {
                if (String(decoding: stdout, as: UTF8.self) + errorText).lowercased().contains("credentials not found") { return nil }
                // Its stderr says why (a locked keychain); stdout is never
                // quoted, as a helper may print a secret there.
                let reason = errorText.split(whereSeparator: \.isNewline).last.map { ": " + $0.prefix(200) } ?? ""
                throw .credentialHelper(name: name, detail: "exit status \(status)\(reason)")
            }
            return try Self.credential(parsing: stdout, name: name)
        }
    }

    /// `{"Username": …, "Secret": …}`; the user `<token>` marks an identity token.
    static func credential(parsing bytes: [UInt8], name: String) throws(RegistryError) -> ResolvedCredential {
        struct HelperAnswer: Decodable {
            var Username: String?
            var Secret: String?
        }
        guard let answer = try? JSONDecoder().decode(HelperAnswer.self, from: Data(bytes)), let secret = answer.Secret else {
            throw .credentialHelper(name: name, detail: "its answer is not the JSON a credential helper prints")
        }
        let origin = "docker-credential-\(name)"
        if answer.Username == "<token>" { return ResolvedCredential(.identityToken(secret), origin: origin) }
        return ResolvedCredential(.basic(username: answer.Username ?? "", password: secret), origin: origin)
    }

    /// The first executable `name` in the directories of `path`.
    static func find(_ name: String, path: String) -> String? {
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
