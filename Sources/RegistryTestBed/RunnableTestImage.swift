import Foundation

/// An image a container runtime can run: one layer holding a static
/// executable (Debian's `tini-static`, which docker.io installs as its
/// `docker-init`) as `/tini`, whose entrypoint prints its version. Written
/// as a docker-archive, the layer gzipped, the bytes the same on every run.
public enum RunnableTestImage {
    /// The static executable put in the image.
    public static let executable = "/usr/bin/tini-static"
    /// What running the image prints: `tini version …`.
    public static let expectedOutputPrefix = "tini version"

    /// Writes the docker-archive to `path`, named `repoTag` (`name:tag`).
    ///
    /// - Returns: the image ID (`sha256:` of its config).
    @discardableResult
    public static func writeArchive(to path: String, repoTag: String) async throws -> String {
        try await writeArchive(to: path, repoTags: [repoTag])
    }

    /// Writes the docker-archive to `path`, named by every one of `repoTags`:
    /// the same image, whatever its names.
    ///
    /// - Returns: the image ID (`sha256:` of its config).
    @discardableResult
    public static func writeArchive(to path: String, repoTags: [String]) async throws -> String {
        _ = try TestTools.require(executable)
        let directory = try makeTemporaryDirectory(prefix: "hocker-runnable")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let root = directory + "/root"
        let archive = directory + "/archive"
        for sub in [root, archive] {
            do {
                try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            } catch {
                throw TestBedError.fileSystem(path: sub, reason: "\(error)")
            }
        }
        do {
            try FileManager.default.copyItem(atPath: executable, toPath: root + "/tini")
        } catch {
            throw TestBedError.fileSystem(path: root, reason: "cannot copy \(executable): \(error)")
        }
        let layerTar = directory + "/layer.tar"
        try await runChecked(
            "tar", ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", root, "-cf", layerTar, "tini"])
        let diffID = try sha256Digest(file: layerTar)
        try await runChecked("gzip", ["-n", "-6", layerTar])
        let layerDigest = try sha256Digest(file: layerTar + ".gz")
        let config = """
            {"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",\
            "config":{"Entrypoint":["/tini","--version"]},\
            "rootfs":{"type":"layers","diff_ids":["\(diffID)"]},\
            "history":[{"created":"1970-01-01T00:00:00Z","created_by":"hocker test bed: \(executable) as /tini"}]}
            """
        let configID = sha256Digest(Data(config.utf8))
        let configName = String(configID.dropFirst("sha256:".count)) + ".json"
        let layerName = String(layerDigest.dropFirst("sha256:".count)) + ".tar.gz"
        try writeFile(archive + "/" + configName, config)
        do {
            try FileManager.default.moveItem(atPath: layerTar + ".gz", toPath: archive + "/" + layerName)
        } catch {
            throw TestBedError.fileSystem(path: archive, reason: "\(error)")
        }
        let names = repoTags.map { "\"\($0)\"" }.joined(separator: ",")
        try writeFile(archive + "/manifest.json", #"[{"Config":"\#(configName)","RepoTags":[\#(names)],"Layers":["\#(layerName)"]}]"#)
        try await runChecked(
            "tar", ["--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", archive, "-cf", path, "manifest.json", configName, layerName])
        return configID
    }
}
