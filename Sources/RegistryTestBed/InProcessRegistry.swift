import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Distribution API v2 registry inside the test process, serving from
/// memory over plain http on 127.0.0.1: manifests by tag and digest (GET,
/// HEAD, and PUT, answered with `OCI-Subject` for one with a subject),
/// blobs (GET with `Range`, HEAD), tag lists in pages, the OCI 1.1
/// referrers API, and a token endpoint (``RegistryAuth``). It needs no tool
/// and no file.
///
/// What real registries cannot be made to do is scripted per test with
/// ``RegistryRule``s: challenges, redirects to another origin or to other
/// schemes, 429/503 with `Retry-After`, bodies cut, stalled or trickled,
/// lying headers. Every request is recorded (``requests``), headers and all.
///
/// Two listeners share one store: the main one, and another origin
/// (``otherPort``) for storage redirects, token realms and pages that leave
/// the registry; a unix socket may be a third. A forward proxy
/// (``proxyURL``) takes a client that names the registry by any host name
/// to the main listener, so names that must not resolve are never looked
/// up. Several registries may run at once (a mirror and its upstream).
/// Call ``stop()`` when done.
public final class InProcessRegistry: Sendable {
    /// The main listener's port on 127.0.0.1.
    public let port: Int
    /// The other listener's port on 127.0.0.1: another origin.
    public let otherPort: Int
    /// The forward proxy's port on 127.0.0.1 (`CONNECT` to any host tunnels to the main listener).
    public let proxyPort: Int
    /// The unix socket listened on, when one was asked for.
    public let unixSocketPath: String?

    /// `127.0.0.1:PORT`, what an image reference names.
    public var host: String { "127.0.0.1:\(port)" }
    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    /// `http://127.0.0.1:PORT/v2/`, what `--registry` takes.
    public var v2URL: String { baseURL + "/v2/" }
    /// `http://127.0.0.1:OTHERPORT`.
    public var otherBaseURL: String { "http://127.0.0.1:\(otherPort)" }
    /// `http://127.0.0.1:PROXYPORT`, what `HTTP_PROXY` takes: a client
    /// told so reaches this registry under any host name, and no name is
    /// looked up.
    public var proxyURL: String { "http://127.0.0.1:\(proxyPort)" }

    let state: Mutex<RegistryState>
    /// The listeners: the registry's (main, other, the socket) and the forward proxy's.
    private let listeners: [any Channel]
    private let connections: ConnectionTasks<InProcessRegistry>

    private init(auth: RegistryAuth, listeners: [any Channel], connections: ConnectionTasks<InProcessRegistry>, ports: [Int], unixSocketPath: String?) {
        port = ports[0]
        otherPort = ports[1]
        proxyPort = ports[2]
        self.unixSocketPath = unixSocketPath
        self.listeners = listeners
        self.connections = connections
        state = Mutex(RegistryState(auth: auth))
    }

    /// Runs `body` with a registry started with `auth`, stopped however `body` ends.
    public static func with<Result: Sendable>(
        auth: RegistryAuth = .open, unixSocketPath: String? = nil, _ body: (InProcessRegistry) async throws -> Result
    ) async throws -> Result {
        let registry = try await start(auth: auth, unixSocketPath: unixSocketPath)
        do {
            let result = try await body(registry)
            await registry.stop()
            return result
        } catch {
            await registry.stop()
            throw error
        }
    }

    /// Starts a registry on 127.0.0.1, on ports the kernel picks.
    ///
    /// - Parameters:
    ///   - auth: how requests are authenticated (default: open).
    ///   - unixSocketPath: a unix socket to listen on as well (in a
    ///     temporary directory of the test's), serving the same API.
    public static func start(auth: RegistryAuth = .open, unixSocketPath: String? = nil) async throws -> InProcessRegistry {
        let connections = ConnectionTasks<InProcessRegistry>()
        var listeners: [any Channel] = []
        do {
            listeners.append(try await bind(.tcp, as: .main, connections: connections))
            listeners.append(try await bind(.tcp, as: .other, connections: connections))
            listeners.append(try await bindProxy(connections: connections))
            if let unixSocketPath { listeners.append(try await bind(.unix(unixSocketPath), as: .unixSocket, connections: connections)) }
        } catch {
            connections.stop()
            for listener in listeners { listener.close(promise: nil) }
            throw TestBedError.httpFailed(url: "http://127.0.0.1:0", reason: "the in-process registry cannot listen: \(error)")
        }
        let ports = listeners.prefix(3).compactMap { $0.localAddress?.port }
        guard ports.count == 3 else {
            connections.stop()
            for listener in listeners { listener.close(promise: nil) }
            throw TestBedError.httpFailed(url: "http://127.0.0.1:0", reason: "the in-process registry's listener has no port")
        }
        let registry = InProcessRegistry(auth: auth, listeners: listeners, connections: connections, ports: ports, unixSocketPath: unixSocketPath)
        connections.attach(registry)
        return registry
    }

    private enum Address {
        case tcp
        case unix(String)
    }

    /// A listener of the registry's API: each connection wrapped on its
    /// event loop before it is active (so no byte is missed) and served at
    /// once by a task of its own (``ConnectionTasks``).
    private static func bind(_ address: Address, as listener: RegistryListener, connections: ConnectionTasks<InProcessRegistry>) async throws -> any Channel {
        let bootstrap = connections.httpListener { registry, connection in await registry.serve(connection, listener: listener) }
        switch address {
        case .tcp:
            return try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        case .unix(let path):
            return try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        }
    }

    /// The forward proxy's listener: each connection tunnelled to the main listener.
    private static func bindProxy(connections: ConnectionTasks<InProcessRegistry>) async throws -> any Channel {
        try await connections.byteListener { registry, connection in await registry.tunnel(connection) }.bind(host: "127.0.0.1", port: 0).get()
    }

    /// Tunnels one forward-proxy connection to the main listener, recording its `CONNECT`.
    private func tunnel(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let channel = connection.channel
        let id = track(channel)
        defer { untrack(id) }
        await ConnectTunnel.serve(connection, toPort: port) { method, target, tunnelled in
            let record = SeenRequest(
                listener: .proxy, method: method, uri: target, path: "", route: .other, host: target, headers: [], status: tunnelled ? 200 : 405)
            state.withLock { $0.requests.append(record) }
        }
    }

    /// Keeps `channel` among those ``stop()`` closes; returns its number.
    func track(_ channel: any Channel) -> Int {
        state.withLock { state in
            state.nextConnection += 1
            state.connections[state.nextConnection] = channel
            return state.nextConnection
        }
    }

    func untrack(_ id: Int) {
        _ = state.withLock { $0.connections.removeValue(forKey: id) }
    }

    /// Closes every listener and connection (a stalled answer included) and
    /// waits for the tasks serving them to end. Idempotent.
    public func stop() async {
        for listener in listeners { listener.close(promise: nil) }
        let tasks = connections.stop()
        for channel in state.withLock({ Array($0.connections.values) }) { channel.close(promise: nil) }
        for task in tasks { await task.value }
        if let unixSocketPath { try? FileManager.default.removeItem(atPath: unixSocketPath) }
    }

    // MARK: Content

    /// Stores a blob (layer, config, or any bytes); returns its digest.
    @discardableResult
    public func putBlob(_ blob: FixtureBlob) -> String {
        state.withLock { $0.blobs[blob.digest] = blob.bytes }
        return blob.digest
    }

    /// Stores bytes as a blob; returns their digest.
    @discardableResult
    public func putBlob(_ bytes: Data) -> String {
        putBlob(FixtureBlob(bytes, mediaType: "application/octet-stream"))
    }

    /// Removes a blob: the registry answers it BLOB_UNKNOWN from now on.
    public func removeBlob(_ digest: String) {
        state.withLock { _ = $0.blobs.removeValue(forKey: digest) }
    }

    /// Stores a manifest or index in `repository` (served with its media
    /// type as `Content-Type`), tagged `tag` when given. Its `subject`, if
    /// it has one, lists it among that digest's referrers.
    public func putManifest(_ document: FixtureBlob, repository: String, tag: String? = nil) {
        let stored = StoredManifest(document)
        state.withLock { state in
            state.manifests[repository, default: [:]][document.digest] = stored
            if let tag { state.tags[repository, default: [:]][tag] = document.digest }
        }
    }

    /// Points `tag` of `repository` at `digest`, whatever the tag's text.
    public func tag(_ tag: String, digest: String, repository: String) {
        state.withLock { $0.tags[repository, default: [:]][tag] = digest }
    }

    /// Stores every blob and manifest of `image` in `repository`, its top
    /// (index, or the single manifest) tagged with each of `tags`.
    public func push(_ image: ImageFixture, to repository: String, tags: [String] = ["latest"]) {
        for blob in image.blobs { putBlob(blob) }
        for document in image.manifests.map(\.manifest) { putManifest(document, repository: repository) }
        if let index = image.index { putManifest(index, repository: repository) }
        for tag in tags { self.tag(tag, digest: image.top.digest, repository: repository) }
    }

    /// Stores an artifact made by ``ImageFixture/artifact(subject:artifactType:blobs:annotations:)``
    /// (or a cosign signature manifest), tagged `tag` when given.
    public func push(artifact: (manifest: FixtureBlob, blobs: [FixtureBlob]), to repository: String, tag: String? = nil) {
        for blob in artifact.blobs { putBlob(blob) }
        putManifest(artifact.manifest, repository: repository, tag: tag)
    }

    // MARK: Behaviour

    /// Adds a rule. Rules are tried in the order added; the first that
    /// matches a request and has uses left applies (one per request).
    public func add(_ rule: RegistryRule) {
        state.withLock { $0.rules.append((rule, rule.times)) }
    }

    /// Adds a rule; see ``add(_:)``.
    public func add(_ match: RequestMatch, _ behaviour: RegistryBehaviour, times: Int? = nil) {
        add(RegistryRule(match, behaviour, times: times))
    }

    /// Forgets every rule.
    public func removeAllRules() {
        state.withLock { $0.rules.removeAll() }
    }

    /// How requests are authenticated.
    public var auth: RegistryAuth { state.withLock { $0.auth } }

    /// Changes how requests are authenticated; tokens issued so far stay valid.
    public func setAuth(_ auth: RegistryAuth) {
        state.withLock { $0.auth = auth }
    }

    /// Tags per page of a tag list that asks for no `n` (Docker Hub pages
    /// at 100, distribution not at all); nil for the whole list.
    public func setTagPageSize(_ size: Int?) {
        state.withLock { $0.tagPageSize = size }
    }

    /// Stops accepting every token issued so far, as if each had expired:
    /// the next request with one gets a 401 `invalid_token` challenge.
    public func expireTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    // MARK: What was seen

    /// Every request so far, in the order they arrived; one still being
    /// answered shows what has been sent of it (status 0 before its head).
    public var requests: [SeenRequest] { state.withLock { $0.requests } }

    /// The requests `match` matches.
    public func requests(_ match: RequestMatch) -> [SeenRequest] {
        requests.filter(match.matches)
    }

    /// Every token issued so far, oldest first.
    public var issuedTokens: [IssuedToken] { state.withLock { $0.issued } }

    /// Forgets the requests seen so far.
    public func clearRequests() {
        state.withLock { $0.requests.removeAll() }
    }
}

/// A manifest as stored, with what the referrers API lists of it.
struct StoredManifest: Sendable {
    var bytes: Data
    var mediaType: String
    var digest: String
    /// The digest its `subject` names.
    var subject: String?
    var artifactType: String?
    var annotations: [String: String]?

    init(_ document: FixtureBlob) {
        bytes = document.bytes
        mediaType = document.mediaType
        digest = document.digest
        struct Fields: Decodable {
            struct Reference: Decodable {
                var digest: String?
                var mediaType: String?
            }
            var subject: Reference?
            var artifactType: String?
            var config: Reference?
            var annotations: [String: String]?
        }
        // A document that is not JSON (a test serving garbage) refers to nothing.
        let fields = try? JSONDecoder().decode(Fields.self, from: document.bytes)
        subject = fields?.subject?.digest
        artifactType = fields?.artifactType ?? fields?.config?.mediaType
        annotations = fields?.annotations
    }
}

/// Everything an ``InProcessRegistry`` holds, under one lock.
struct RegistryState: Sendable {
    var auth: RegistryAuth
    var blobs: [String: Data] = [:]
    /// Repository → digest → manifest.
    var manifests: [String: [String: StoredManifest]] = [:]
    /// Repository → tag → digest.
    var tags: [String: [String: String]] = [:]
    var tagPageSize: Int?
    var rules: [(rule: RegistryRule, remaining: Int?)] = []
    var requests: [SeenRequest] = []
    /// Tokens accepted now, by value.
    var tokens: [String: IssuedToken] = [:]
    var issued: [IssuedToken] = []
    /// Open connections, by a number, so ``InProcessRegistry/stop()`` can close them.
    var connections: [Int: any Channel] = [:]
    var nextConnection = 0
}
