import AsyncHTTPClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// Every tag of `repository`, in the registry's order, following the
    /// `Link: <…>; rel="next"` pages of the tag list.
    ///
    /// - Parameter pageSize: tags asked for per page (`n`); nil leaves it to the registry.
    public func tags(of repository: String, pageSize: Int? = nil) async throws -> [String] {
        var next: String? = url(repository, "tags", "list") + (pageSize.map { "?n=\($0)" } ?? "")
        var tags: [String] = []
        var pages = 0
        while let current = next {
            pages += 1
            guard pages <= 10_000 else { throw RegistryError.redirectLoop(url: current) }
            var retry = makeRetryBudget()
            let (body, link) = try await send(RegistryRequest(.GET, current, authentication: .registry(repository: repository)), retry: &retry) {
                response in
                guard response.status == .ok else {
                    throw await failure(response, url: current, repository: repository) { _ in
                        .repositoryUnknown(repository: repository, registry: self.endpoint.host)
                    }
                }
                return (try await collect(response, upTo: 16 * 1024 * 1024, what: "tag list"), response.headers.first(name: "Link"))
            }
            struct TagList: Decodable {
                var tags: [String]?
            }
            guard let page = try? JSONDecoder().decode(TagList.self, from: Data(body.readableBytesView)) else {
                throw RegistryError.unexpectedStatus(200, url: current, detail: "the tag list is not JSON of the expected shape")
            }
            tags += page.tags ?? []
            // The next page is the registry's own: another origin, another scheme, a local socket is refused.
            // Its origin is the one that answered: plain http, if the endpoint fell back to it.
            let answered = rebased(current)
            next = try link.flatMap(Self.nextPage).map { target throws(RegistryError) in
                try gate.admit(target, relativeTo: answered, as: .nextPage(from: answered))
            }
        }
        return tags
    }

    /// Whether the registry knows `repository`, asked through the tag list:
    /// distribution answers an unknown repository's manifest with
    /// MANIFEST_UNKNOWN, but its tag list with NAME_UNKNOWN. Unsure means yes.
    func repositoryExists(_ repository: String) async -> Bool {
        let url = url(repository, "tags", "list?n=1")
        var retry = makeRetryBudget()
        let unknown = try? await send(RegistryRequest(.GET, url, authentication: .registry(repository: repository)), retry: &retry) { response in
            let body = await errorBody(response)
            return response.status == .notFound && Self.registryErrors(body).contains { $0.code == "NAME_UNKNOWN" }
        }
        return unknown != true
    }

    /// The `rel="next"` target of a `Link` header, as written (relative or
    /// not); the ``URLGate`` resolves and judges it.
    static func nextPage(link: String) -> String? {
        for part in link.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingWhitespace() }
            guard let target = fields.first, target.hasPrefix("<"), target.hasSuffix(">"),
                  fields.dropFirst().contains(where: { $0.replacing(" ", with: "").lowercased() == "rel=\"next\"" || $0.lowercased() == "rel=next" })
            else { continue }
            return String(target.dropFirst().dropLast())
        }
        return nil
    }
}
