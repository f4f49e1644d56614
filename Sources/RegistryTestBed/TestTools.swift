import Foundation

/// Locating the external tools the integration tests need, and deciding whether
/// their absence means "skip" or "fail".
public enum TestTools {
    /// The tools the full integration suite uses.
    public static let all = ["docker-registry", "skopeo", "podman", "htpasswd", "openssl", "tar", "gzip"]

    /// The absolute path of executable `name`, searching `PATH` only, so a
    /// tool taken out of `PATH` counts as missing.
    ///
    /// A `name` containing a `/` is returned as-is when it is executable.
    public static func path(_ name: String) -> String? {
        let fileManager = FileManager.default
        if name.contains("/") {
            return fileManager.isExecutableFile(atPath: name) ? name : nil
        }
        let pathVariable = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in pathVariable.split(separator: ":").map(String.init) where !directory.isEmpty {
            let candidate = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            if fileManager.fileExists(atPath: candidate, isDirectory: &isDirectory),
                !isDirectory.boolValue,
                fileManager.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
        }
        return nil
    }

    /// The subset of `names` that ``path(_:)`` cannot find, in the given order.
    public static func missing(_ names: [String]) -> [String] {
        names.filter { path($0) == nil }
    }

    /// `true` when the environment variable `HOCKER_REQUIRE_INTEGRATION` is `1`:
    /// missing tools must then fail the tests instead of skipping them.
    public static func requireIntegration() -> Bool {
        ProcessInfo.processInfo.environment["HOCKER_REQUIRE_INTEGRATION"] == "1"
    }

    /// The absolute path of `name`, or a ``TestBedError/toolNotFound(name:)`` error.
    public static func require(_ name: String) throws(TestBedError) -> String {
        guard let found = path(name) else { throw .toolNotFound(name: name) }
        return found
    }
}
