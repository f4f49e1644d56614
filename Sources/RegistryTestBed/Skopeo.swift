import Foundation

/// Running `skopeo` the same way on every machine.
///
/// Every invocation gets `--policy <temp file>` with an accept-anything trust policy,
/// so machines without `/etc/containers/policy.json` (minimal CI images) work too.
public enum Skopeo {
    /// The trust policy written for skopeo and podman: accept anything.
    public static let acceptAnythingPolicy = #"{"default":[{"type":"insecureAcceptAnything"}]}"#

    /// The full skopeo argument list: global `--policy policyPath`, then `arguments`.
    public static func arguments(_ arguments: [String], policyPath: String) -> [String] {
        ["--policy", policyPath] + arguments
    }

    /// Runs `skopeo` with a temporary accept-anything policy; a non-zero exit throws.
    ///
    /// - Parameters:
    ///   - arguments: everything after the global options, e.g. `["inspect", "--raw", ref]`.
    ///   - timeout: the process budget.
    @discardableResult
    public static func run(_ arguments: [String], timeout: Duration = .seconds(300)) async throws -> ProcessResult {
        _ = try TestTools.require("skopeo")
        let policyDirectory = try makeTemporaryDirectory(prefix: "hocker-skopeo")
        defer { try? FileManager.default.removeItem(atPath: policyDirectory) }
        let policyPath = "\(policyDirectory)/policy.json"
        try writeFile(policyPath, acceptAnythingPolicy)
        return try await runChecked("skopeo", Self.arguments(arguments, policyPath: policyPath), timeout: timeout)
    }

    /// `skopeo copy [extra] SOURCE DESTINATION`. A `docker://` end with a
    /// cert directory is verified with it (`--src-cert-dir`/`--dest-cert-dir`,
    /// skopeo's certs.d layout); one without has TLS verification off (the
    /// plain-http test registries on loopback).
    ///
    /// - Parameters:
    ///   - source: e.g. `oci:/path:tag` or `docker://127.0.0.1:PORT/repo:tag`.
    ///   - destination: e.g. `docker-archive:/tmp/x.tar:name:tag`.
    ///   - sourceCredentials: `--src-creds user:password`.
    ///   - destinationCredentials: `--dest-creds user:password`.
    ///   - extraArguments: more `copy` options, e.g. `["--all"]`.
    ///   - sourceCertDirectory: CA (and client certificate) for an https source.
    ///   - destinationCertDirectory: the same for an https destination.
    @discardableResult
    public static func copy(
        _ source: String,
        _ destination: String,
        sourceCredentials: (user: String, password: String)? = nil,
        destinationCredentials: (user: String, password: String)? = nil,
        extraArguments: [String] = [],
        sourceCertDirectory: String? = nil,
        destinationCertDirectory: String? = nil,
        timeout: Duration = .seconds(600)
    ) async throws -> ProcessResult {
        var arguments = ["copy"]
        if source.hasPrefix("docker://") {
            arguments += sourceCertDirectory.map { ["--src-cert-dir", $0] } ?? ["--src-tls-verify=false"]
        }
        if destination.hasPrefix("docker://") {
            arguments += destinationCertDirectory.map { ["--dest-cert-dir", $0] } ?? ["--dest-tls-verify=false"]
        }
        if let sourceCredentials { arguments += ["--src-creds", "\(sourceCredentials.user):\(sourceCredentials.password)"] }
        if let destinationCredentials {
            arguments += ["--dest-creds", "\(destinationCredentials.user):\(destinationCredentials.password)"]
        }
        arguments += extraArguments
        arguments += [source, destination]
        return try await run(arguments, timeout: timeout)
    }

    /// The raw manifest bytes of `reference` (`skopeo inspect --raw`), exactly as served.
    ///
    /// - Parameters:
    ///   - reference: e.g. `docker://127.0.0.1:PORT/repo:tag` or `…@sha256:…`.
    ///   - credentials: `--creds user:password`.
    ///   - certDirectory: CA (and client certificate) for an https registry.
    public static func inspectRaw(
        _ reference: String, credentials: (user: String, password: String)? = nil, certDirectory: String? = nil
    ) async throws -> Data {
        var arguments = ["inspect", "--raw"]
        if reference.hasPrefix("docker://") { arguments += certDirectory.map { ["--cert-dir", $0] } ?? ["--tls-verify=false"] }
        if let credentials { arguments += ["--creds", "\(credentials.user):\(credentials.password)"] }
        arguments.append(reference)
        return try await run(arguments, timeout: .seconds(120)).stdout
    }

    /// `skopeo inspect` (the JSON summary) of `reference`.
    public static func inspect(
        _ reference: String, credentials: (user: String, password: String)? = nil, extraArguments: [String] = []
    ) async throws -> String {
        var arguments = ["inspect"]
        if reference.hasPrefix("docker://") { arguments.append("--tls-verify=false") }
        if let credentials { arguments += ["--creds", "\(credentials.user):\(credentials.password)"] }
        arguments += extraArguments
        arguments.append(reference)
        return try await run(arguments, timeout: .seconds(120)).stdoutText
    }
}
