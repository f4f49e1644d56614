import AsyncHTTPClient
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension RegistryClient {
    /// The most bytes one signature file may have (containers/image's limit too).
    public static let maxSignatureBytes = 4 << 20

    /// A file of a signature store over http(s) — a registries.d
    /// `lookaside` URL's `…/signature-N` — or nil when it answers 404 (there
    /// is no such signature: the numbering ends there).
    ///
    /// The URL passes the ``URLGate`` as a signature location, and the
    /// request goes through the one request path (retries, redirects, the
    /// deadline) with no credential of any kind: a signature store is not
    /// the registry. Bodies over ``maxSignatureBytes`` are refused.
    public func fetchSignatureStoreFile(_ url: String) async throws -> Data? {
        let admitted = try gate.admit(url, as: .signatureStore)
        var retry = makeRetryBudget()
        let body: ByteBuffer? = try await send(RegistryRequest(.GET, admitted, authentication: .anonymous), retry: &retry) { response in
            if response.status == .notFound {
                await discardBody(response)
                return nil
            }
            guard response.status == .ok else {
                let body = await errorBody(response)
                throw RegistryError.unexpectedStatus(Int(response.status.code), url: admitted, detail: Self.errorSummary(body))
            }
            return try await collect(response, upTo: Self.maxSignatureBytes, what: "signature \(admitted)")
        }
        return body.map { Data($0.readableBytesView) }
    }
}
