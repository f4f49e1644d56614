import Foundation

/// Everything that can go wrong while setting up or driving the integration test bed.
///
/// Each case renders an actionable message: what failed, and what to check or install.
public enum TestBedError: Error, CustomStringConvertible, Sendable {
    /// A required command-line tool is not installed.
    case toolNotFound(name: String)
    /// A process could not be launched at all.
    case launchFailed(command: String, reason: String)
    /// A process did not finish within its time budget and was killed.
    case processTimedOut(command: String, timeout: Duration, stderrTail: String)
    /// A process exited with a non-zero status.
    case processFailed(command: String, status: Int32, stderrTail: String)
    /// The registry process did not become ready (or died) during start-up.
    case registryStartFailed(reason: String, logTail: String)
    /// The token server could not bind or start.
    case tokenServerStartFailed(reason: String)
    /// Generating keys or certificates with `openssl` failed or gave unusable output.
    case keyGenerationFailed(reason: String)
    /// No free loopback port could be obtained.
    case noFreePort(reason: String)
    /// A file-system operation in a test-bed temporary directory failed.
    case fileSystem(path: String, reason: String)
    /// An image description given to ``TestImageBuilder`` is not usable.
    case invalidImageSpec(reason: String)
    /// A manifest read back from the registry did not match what was pushed.
    case pushVerificationFailed(reference: String, reason: String)
    /// A minimal HTTP request made by the test bed itself failed.
    case httpFailed(url: String, reason: String)

    public var description: String {
        switch self {
        case .toolNotFound(let name):
            return "required tool '\(name)' was not found on PATH, /usr/sbin or /usr/bin; "
                + "install it (Debian: apt-get install docker-registry skopeo podman apache2-utils openssl tar gzip) "
                + "or unset HOCKER_REQUIRE_INTEGRATION to skip integration tests"
        case .launchFailed(let command, let reason):
            return "could not launch `\(command)`: \(reason)"
        case .processTimedOut(let command, let timeout, let stderrTail):
            return "`\(command)` did not finish within \(timeout) and was killed"
                + Self.tail("stderr", stderrTail)
        case .processFailed(let command, let status, let stderrTail):
            return "`\(command)` exited with status \(status)" + Self.tail("stderr", stderrTail)
        case .registryStartFailed(let reason, let logTail):
            return "docker-registry did not start: \(reason)" + Self.tail("registry log", logTail)
        case .tokenServerStartFailed(let reason):
            return "token server could not start on 127.0.0.1: \(reason)"
        case .keyGenerationFailed(let reason):
            return "generating the token signing key/certificate with openssl failed: \(reason)"
        case .noFreePort(let reason):
            return "could not obtain a free port on 127.0.0.1: \(reason)"
        case .fileSystem(let path, let reason):
            return "file-system operation on '\(path)' failed: \(reason)"
        case .invalidImageSpec(let reason):
            return "invalid test image description: \(reason)"
        case .pushVerificationFailed(let reference, let reason):
            return "image pushed to \(reference) does not match what was built: \(reason)"
        case .httpFailed(let url, let reason):
            return "HTTP request to \(url) failed: \(reason)"
        }
    }

    private static func tail(_ label: String, _ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? "" : "\n--- \(label) (tail) ---\n\(trimmed)"
    }
}

/// The last `maxLines` lines (at most `maxBytes` bytes) of some text, for error messages.
func textTail(_ data: Data, maxLines: Int = 30, maxBytes: Int = 8192) -> String {
    let slice = data.count > maxBytes ? data.suffix(maxBytes) : data
    let text = String(decoding: slice, as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    return lines.suffix(maxLines).joined(separator: "\n")
}
