import ImagePull
import ImageReference
import RegistryClient
import RegistryMirrors
import Testing

/// Which endpoint and which credentials each source of a pull gets.
@Suite("Source chain")
struct SourceChainTests {
    static func chain(image: String, mirrors: [String], registry: RegistryEndpoint? = nil) throws -> SourceChain {
        let reference = try ImageReference(parsing: image)
        let plan = try PullPlan(
            image: reference, runMirrors: try PullPlan.mirrors(parsing: mirrors, origin: "--mirror"), configuration: RegistriesConfiguration(),
            byDigest: false, insecure: false)
        return SourceChain(plan: plan, primaryEndpoint: registry ?? RegistryEndpoint(registryName: reference.registry))
    }

    @Test("the primary keeps the flags' credential; a mirror on another registry gets none of it")
    func credentials() async throws {
        let chain = try Self.chain(image: "registry.example/team/app:1", mirrors: ["mirror.example", "registry.example/cache"])
        let sources = chain.plan.sources
        #expect(sources.map(\.description) == ["mirror mirror.example", "mirror registry.example", "registry.example"])
        #expect(sources.map(chain.credentialScope(for:)) == [.authFilesOnly, .all, .all])
        // What each scope gives, from a session with a password.
        let credentials = try CredentialResolver(options: CredentialOptions(username: "alice", password: "secret-Pa55", environment: ["HOME": "/nonexistent"]))
        let session = PullSession(options: SessionOptions(credentials: credentials))
        defer { session.shutdownWithoutWaiting() }
        for (source, expected) in zip(sources, [nil, Credential.basic(username: "alice", password: "secret-Pa55"), .basic(username: "alice", password: "secret-Pa55")]) {
            let client = session.client(for: chain.endpoint(of: source), credentials: chain.credentialScope(for: source))
            #expect(await client.upfrontCredential(for: source.image.repository)?.credential == expected)
        }
    }

    @Test("the primary goes where --registry says; a mirror to its own host")
    func endpoints() throws {
        let registry = try RegistryEndpoint(parsing: "http://127.0.0.1:5000/v2/")
        let chain = try Self.chain(image: "127.0.0.1:5000/team/app:1", mirrors: ["127.0.0.1:6000/hub"], registry: registry)
        let sources = chain.plan.sources
        #expect(chain.endpoint(of: sources[1]) == registry)
        #expect(chain.endpoint(of: sources[0]).host == "127.0.0.1:6000")
        #expect(sources[0].image.repository == "hub/team/app")
    }

    @Test("registries.conf's insecure lets the registry fall back to plain http; a plain-http or path endpoint stays as given")
    func insecurePrimary() throws {
        let configuration = try RegistriesConfiguration(parsing: "[[registry]]\nlocation = \"registry.example\"\ninsecure = true\n", path: "r.conf")
        let reference = try ImageReference(parsing: "registry.example/team/app:1")
        let plan = try PullPlan(image: reference, runMirrors: [], configuration: configuration, byDigest: false, insecure: false)
        func chain(_ endpoint: RegistryEndpoint) -> SourceChain {
            SourceChain(plan: plan, primaryEndpoint: endpoint)
        }
        #expect(chain(RegistryEndpoint(registryName: "registry.example")).endpoint(of: plan.sources[0]).fallsBackToPlainHTTP)
        for given in ["http://registry.example/v2/", "https://registry.example/prefix/v2/"] {
            let endpoint = try RegistryEndpoint(parsing: given)
            #expect(chain(endpoint).endpoint(of: plan.sources[0]) == endpoint)
        }
    }
}
