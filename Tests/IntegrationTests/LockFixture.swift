import Foundation
import RegistryTestBed
import Testing

/// The registries of the lock tests — an open one and one behind htpasswd
/// — with images built once: two builds of a single-platform image and of
/// a two-platform one, so a test can move a tag from one to the other.
/// Every test pushes into repositories of its own (`prefix`), so tests
/// that move tags and count requests never see each other's.
final class LockFixture: SuiteFixture {
    static let alice = (user: "alice", password: "lock-Secret-pa55")

    let open: TestRegistry
    let basic: TestRegistry
    /// linux/amd64, OCI, two layers.
    let single: TestImage
    /// The same image rebuilt: another top layer.
    let singleNext: TestImage
    /// linux/amd64 + linux/arm64/v8 behind an OCI index, with labels.
    let multi: TestImage
    /// The same rebuilt: both platforms' top layers differ, the base stays.
    let multiNext: TestImage

    private init(open: TestRegistry, basic: TestRegistry, images: [TestImage]) {
        self.open = open
        self.basic = basic
        single = images[0]
        singleNext = images[1]
        multi = images[2]
        multiNext = images[3]
    }

    static let labels = ["org.opencontainers.image.version": "1.0", "org.opencontainers.image.title": "lock test"]

    static func start() async throws -> LockFixture {
        async let openRegistry = TestRegistry.start(auth: .open)
        async let basicRegistry = TestRegistry.start(auth: .htpasswd(users: [alice.user: alice.password]))
        let builder = TestImageBuilder()
        let base = TestLayerSpec(seed: "lock-base", approximateSize: 40_000)
        async let single = builder.build(tag: "v1", layers: [base, TestLayerSpec(seed: "lock-top-1", approximateSize: 3_000, fileCount: 1)])
        async let singleNext = builder.build(tag: "v1", layers: [base, TestLayerSpec(seed: "lock-top-2", approximateSize: 3_000, fileCount: 1)])
        async let multi = builder.build(
            tag: "v1", platforms: [.linuxAMD64, .linuxARM64],
            layers: [base, TestLayerSpec(seed: "lock-multi-1", approximateSize: 3_000, fileCount: 1)], labels: labels)
        async let multiNext = builder.build(
            tag: "v1", platforms: [.linuxAMD64, .linuxARM64],
            layers: [base, TestLayerSpec(seed: "lock-multi-2", approximateSize: 3_000, fileCount: 1)], labels: labels)
        let (open, basic) = try await (openRegistry, basicRegistry)
        do {
            let images = try await [single, singleNext, multi, multiNext]
            return LockFixture(open: open, basic: basic, images: images)
        } catch {
            open.stop()
            basic.stop()
            throw error
        }
    }

    func stop() {
        open.stop()
        basic.stop()
        for image in [single, singleNext, multi, multiNext] { image.remove() }
    }

    /// A repository prefix no other test uses.
    static func prefix(_ label: String) -> String {
        "\(label)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Writes `auth.json` into `directory`, with alice's credentials for the htpasswd registry only.
    func authFile(in directory: String) throws -> String {
        let path = directory + "/auth.json"
        let auth = Data("\(Self.alice.user):\(Self.alice.password)".utf8).base64EncodedString()
        try #"{"auths":{"\#(basic.hostPort)":{"auth":"\#(auth)"}}}"#.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @TaskLocal static var current: LockFixture?
    static var scope: TaskLocal<LockFixture?> { $current }
}

extension Trait where Self == SuiteFixtureTrait<LockFixture> {
    /// Registries for the lock tests, shared by the suite.
    static var lockRegistries: Self { Self() }
}

/// A request in a registry's access log.
struct LoggedRequest: Sendable, Equatable, CustomStringConvertible {
    var method: String
    var path: String
    var status: Int

    var description: String { "\(method) \(path) \(status)" }

    /// Whether it is a `GET` of one of `digests`' blobs.
    func isBlobGET(of digests: some Sequence<String>) -> Bool {
        method == "GET" && digests.contains { path.hasSuffix("/blobs/\($0)") }
    }
}

/// What a registry's access log says hocker asked, from a point on.
struct AccessLog {
    let registry: TestRegistry
    private let start: Int

    /// Starts counting now.
    init(_ registry: TestRegistry) {
        self.registry = registry
        start = Self.lines(registry).count
    }

    /// hocker's requests since `init`, in `repository` (all when nil).
    func requests(in repository: String? = nil) -> [LoggedRequest] {
        Self.lines(registry).dropFirst(start).compactMap { line -> LoggedRequest? in
            // 127.0.0.1 - - [date] "HEAD /v2/x/manifests/v1 HTTP/1.1" 200 420 "" "hocker/2.0.0"
            guard line.contains("\"hocker/"), let open = line.firstIndex(of: "\"") else { return nil }
            let request = line[line.index(after: open)...].split(separator: "\"", maxSplits: 1)
            let words = request.first?.split(separator: " ") ?? []
            let status = request.count > 1 ? Int(request[1].split(separator: " ").first ?? "") : nil
            guard words.count == 3, let status else { return nil }
            let path = String(words[1])
            if let repository, !path.hasPrefix("/v2/\(repository)/") { return nil }
            return LoggedRequest(method: String(words[0]), path: path, status: status)
        }
    }

    /// The access log lines so far (not the registry's own error lines, which quote URIs too).
    private static func lines(_ registry: TestRegistry) -> [Substring] {
        registry.log().split(separator: "\n").filter { $0.hasPrefix("127.0.0.1 - - [") }
    }
}
