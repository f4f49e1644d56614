import Foundation

/// Pushes blobs and manifests built in memory (``FixtureBlob``s) into a
/// real open registry over its API, byte for byte: artifacts with a
/// `subject`, the `sha256-<hex>` referrers tag, cosign signature manifests —
/// documents skopeo would not push as they are.
public enum Upload {
    /// Uploads `blob` to `repository` at `baseURL` (`http://127.0.0.1:PORT`):
    /// a `POST` for an upload session, then one `PUT` with the bytes.
    public static func blob(_ blob: FixtureBlob, to baseURL: String, repository: String) async throws {
        let start = try await TestHTTP.request("POST", "\(baseURL)/v2/\(repository)/blobs/uploads/", body: Data())
        guard start.status == 202, let location = start.header("Location") else {
            throw TestBedError.httpFailed(url: "\(baseURL)/v2/\(repository)/blobs/uploads/", reason: "upload not started: \(start.status) \(start.bodyText)")
        }
        let absolute = location.hasPrefix("http") ? location : baseURL + location
        let separator = absolute.contains("?") ? "&" : "?"
        let put = try await TestHTTP.request(
            "PUT", "\(absolute)\(separator)digest=\(blob.digest)", headers: [("Content-Type", "application/octet-stream")], body: blob.bytes)
        guard put.status == 201 else {
            throw TestBedError.httpFailed(url: absolute, reason: "blob \(blob.digest) not stored: \(put.status) \(put.bodyText)")
        }
    }

    /// Stores `manifest` in `repository` under `reference` (a tag, or its digest when nil).
    @discardableResult
    public static func manifest(_ manifest: FixtureBlob, to baseURL: String, repository: String, reference: String? = nil) async throws -> TestHTTPResponse {
        let url = "\(baseURL)/v2/\(repository)/manifests/\(reference ?? manifest.digest)"
        let put = try await TestHTTP.request("PUT", url, headers: [("Content-Type", manifest.mediaType)], body: manifest.bytes)
        guard put.status == 201 else { throw TestBedError.httpFailed(url: url, reason: "manifest not stored: \(put.status) \(put.bodyText)") }
        return put
    }

    /// Uploads every blob of `artifact`, then its manifest (by digest, or
    /// under `tag`); returns the registry's answer to the manifest's `PUT`.
    @discardableResult
    public static func artifact(
        _ artifact: (manifest: FixtureBlob, blobs: [FixtureBlob]), to baseURL: String, repository: String, tag: String? = nil
    ) async throws -> TestHTTPResponse {
        for blob in artifact.blobs { try await self.blob(blob, to: baseURL, repository: repository) }
        return try await manifest(artifact.manifest, to: baseURL, repository: repository, reference: tag)
    }

    /// Uploads `image` (its blobs, manifests and index), its top tagged `tag`.
    public static func image(_ image: ImageFixture, to baseURL: String, repository: String, tag: String) async throws {
        for blob in image.blobs { try await self.blob(blob, to: baseURL, repository: repository) }
        for document in image.manifests.map(\.manifest) { try await manifest(document, to: baseURL, repository: repository) }
        if let index = image.index { try await manifest(index, to: baseURL, repository: repository) }
        try await manifest(image.top, to: baseURL, repository: repository, reference: tag)
    }
}
