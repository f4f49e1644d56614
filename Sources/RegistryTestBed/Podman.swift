import Foundation

/// Running `podman` against a private, throw-away `vfs` store, as root or not,
/// without systemd, without touching the machine's own container storage.
public enum Podman {
    /// The global options used for every podman call on a store rooted at `directory`.
    ///
    /// `--storage-driver vfs --root DIR/root --runroot DIR/runroot --tmpdir DIR/tmp
    /// --cgroup-manager cgroupfs --events-backend none`.
    public static func globalArguments(storeDirectory directory: String) -> [String] {
        [
            "--storage-driver", "vfs",
            "--root", "\(directory)/root",
            "--runroot", "\(directory)/runroot",
            "--tmpdir", "\(directory)/tmp",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "none",
        ]
    }

    /// Loads a docker-archive (or oci-archive) into a fresh temporary vfs store with
    /// `podman load -i`, returns podman's standard output (`Loaded image: …`), and
    /// removes the store again.
    ///
    /// - Parameters:
    ///   - archive: path of the archive file.
    ///   - timeout: the budget for the load.
    public static func load(archive: String, timeout: Duration = .seconds(300)) async throws -> String {
        try await withStore { directory, environment, policyPath in
            let arguments = globalArguments(storeDirectory: directory)
                + ["load", "--signature-policy", policyPath, "-i", archive]
            let result = try await runChecked("podman", arguments, environment: environment, timeout: timeout)
            return result.stdoutText
        }
    }

    /// Loads `archive` and then runs `podman image inspect` on `image` in the same
    /// store; returns the inspect JSON.
    public static func loadAndInspect(archive: String, image: String, timeout: Duration = .seconds(300)) async throws -> String {
        try await withStore { directory, environment, policyPath in
            let global = globalArguments(storeDirectory: directory)
            _ = try await runChecked(
                "podman", global + ["load", "--signature-policy", policyPath, "-i", archive],
                environment: environment, timeout: timeout)
            let inspect = try await runChecked(
                "podman", global + ["image", "inspect", image], environment: environment, timeout: .seconds(60))
            return inspect.stdoutText
        }
    }

    /// `skopeo inspect docker-archive:PATH`: the JSON summary of a docker-archive.
    public static func inspectArchive(_ path: String) async throws -> String {
        try await Skopeo.inspect("docker-archive:\(path)")
    }

    /// Creates a private store, a policy file and a storage.conf, runs `body`, then removes it all.
    private static func withStore<T: Sendable>(
        _ body: (_ directory: String, _ environment: [String: String], _ policyPath: String) async throws -> T
    ) async throws -> T {
        _ = try TestTools.require("podman")
        let directory = try makeTemporaryDirectory(prefix: "hocker-podman")
        for sub in ["root", "runroot", "tmp"] {
            do {
                try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
            } catch {
                throw TestBedError.fileSystem(path: directory, reason: "cannot create the podman store: \(error)")
            }
        }
        let policyPath = "\(directory)/policy.json"
        let storageConf = "\(directory)/storage.conf"
        try writeFile(policyPath, Skopeo.acceptAnythingPolicy)
        try writeFile(
            storageConf,
            """
            [storage]
            driver = "vfs"
            graphroot = "\(directory)/root"
            runroot = "\(directory)/runroot"

            """)
        // Keep the machine's storage.conf (overlay options, extra stores) out of the way.
        let environment = ["CONTAINERS_STORAGE_CONF": storageConf, "TMPDIR": "\(directory)/tmp"]
        do {
            let value = try await body(directory, environment, policyPath)
            await removeStore(directory, environment: environment)
            return value
        } catch {
            await removeStore(directory, environment: environment)
            throw error
        }
    }

    /// Removes a store; rootless stores may hold files owned by sub-UIDs, which only
    /// `podman unshare` can delete.
    private static func removeStore(_ directory: String, environment: [String: String]) async {
        if (try? FileManager.default.removeItem(atPath: directory)) != nil { return }
        _ = try? await runProcess(
            "podman", globalArguments(storeDirectory: directory) + ["unshare", "rm", "-rf", directory],
            environment: environment, timeout: .seconds(60))
        try? FileManager.default.removeItem(atPath: directory)
    }
}
