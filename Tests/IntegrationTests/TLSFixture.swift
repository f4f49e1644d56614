import Foundation
import RegistryTestBed
import Testing

/// https registries signed by a CA the suite makes with openssl, started
/// once for the TLS tests: an open one, one that requires client
/// certificates (`clientcas`), one with an expired certificate, one whose
/// certificate names another host; a plain-http one beside them; and a
/// second, unrelated CA for the negative cases.
final class TLSFixture: SuiteFixture {
    /// Signs every registry's certificate and the client certificate.
    let ca: TestCertificateAuthority
    /// Trusted by no registry.
    let stranger: TestCertificateAuthority
    /// https, certificate for 127.0.0.1, localhost and registry.test.
    let https: TestRegistry
    /// https that requires a client certificate from `ca`.
    let mutual: TestRegistry
    /// https with a certificate that expired yesterday.
    let expired: TestRegistry
    /// https with a certificate for registry.invalid only.
    let misnamed: TestRegistry
    /// Plain http.
    let plain: TestRegistry
    /// `tls/app:v1` in `https`, `mutual` and `plain`.
    let image: PushedImage
    /// A client certificate `ca` signed.
    let client: TestCertificate
    /// A client certificate `stranger` signed.
    let strangerClient: TestCertificate
    private let layout: TestImage
    private let directory: String

    static let repository = "tls/app"

    private init(
        ca: TestCertificateAuthority, stranger: TestCertificateAuthority, registries: [TestRegistry], image: PushedImage,
        client: TestCertificate, strangerClient: TestCertificate, layout: TestImage, directory: String
    ) {
        self.ca = ca
        self.stranger = stranger
        (https, mutual, expired, misnamed, plain) = (registries[0], registries[1], registries[2], registries[3], registries[4])
        self.image = image
        self.client = client
        self.strangerClient = strangerClient
        self.layout = layout
        self.directory = directory
    }

    static func start() async throws -> TLSFixture {
        async let caMade = TestCertificateAuthority.generate(label: "one")
        async let strangerMade = TestCertificateAuthority.generate(label: "stranger")
        let (ca, stranger) = try await (caMade, strangerMade)
        let directory = try Scratch.directory("tls-fixture")
        let names = ["127.0.0.1", "localhost", "registry.test"]
        async let serverMade = ca.issueServer(names: names, label: "server")
        async let expiredMade = ca.issueServer(names: names, label: "expired", expired: true)
        async let misnamedMade = ca.issueServer(names: ["registry.invalid"], label: "misnamed")
        async let clientMade = ca.issueClient(commonName: "hocker test client", label: "client")
        async let strangerClientMade = stranger.issueClient(commonName: "hocker stranger client", label: "client")
        let (server, expiredCertificate, misnamedCertificate, client, strangerClient) = try await (
            serverMade, expiredMade, misnamedMade, clientMade, strangerClientMade
        )
        let push = try ca.certDirectory(at: directory + "/push")
        let pushMutual = try ca.certDirectory(at: directory + "/push-mutual", client: client)
        async let https = TestRegistry.start(tls: .init(certificate: server, clientDirectory: push))
        async let mutual = TestRegistry.start(tls: .init(certificate: server, clientCA: ca.certificatePath, clientDirectory: pushMutual))
        async let expired = TestRegistry.start(tls: .init(certificate: expiredCertificate, clientDirectory: push))
        async let misnamed = TestRegistry.start(tls: .init(certificate: misnamedCertificate, clientDirectory: push))
        async let plain = TestRegistry.start()
        async let built = TestImageBuilder().build(
            tag: "v1", layers: [TestLayerSpec(seed: "tls-base", approximateSize: 40_000), TestLayerSpec(seed: "tls-top", approximateSize: 3_000, fileCount: 1)])
        let registries = try await [https, mutual, expired, misnamed, plain]
        let layout = try await built
        let pushed = try await registries[0].push(layout, repository: repository, tag: "v1")
        _ = try await registries[1].push(layout, repository: repository, tag: "v1")
        _ = try await registries[4].push(layout, repository: repository, tag: "v1")
        return TLSFixture(
            ca: ca, stranger: stranger, registries: registries, image: pushed, client: client, strangerClient: strangerClient, layout: layout,
            directory: directory)
    }

    func stop() {
        for registry in [https, mutual, expired, misnamed, plain] { registry.stop() }
        layout.remove()
        ca.remove()
        stranger.remove()
        Scratch.remove(directory)
    }

    @TaskLocal static var current: TLSFixture?
    static var scope: TaskLocal<TLSFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<TLSFixture> {
    /// The https registries and CAs of the TLS tests.
    static var tlsRegistries: Self { Self() }
}
