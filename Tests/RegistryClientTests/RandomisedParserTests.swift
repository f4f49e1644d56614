import Foundation
import ImageReference
import ImageSpec
@testable import RegistryClient
import RegistryTestBed
import Testing

/// Generates what a registry, a token server or a credentials file might
/// hand us: grammar-shaped documents, then damaged.
struct UntrustedInput: SeededInput {
    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    static let hex = Array("0123456789abcdef")
    static let word = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
    static let noise: [Character] = Array(" \t\r\n\"\\,;=:/@{}[]#'%+*&!?") + ["\0", "é", "😀", "\u{202E}", "\u{FEFF}"]
    /// Every secret the generators write contains this, so a leak is easy to find.
    static let secretMarker = "-S3CRET-"

    mutating func secret() -> String { string(Self.word, length: 1...12) + Self.secretMarker + string(Self.word, length: 0...12) }

    /// Random edits at the byte level: drops, repeats, flips, truncation, junk.
    mutating func damage(_ data: Data) -> Data {
        var bytes = [UInt8](data)
        for _ in 0..<int(1...5) {
            let position = bytes.isEmpty ? 0 : int(0...bytes.count - 1)
            switch int(0...5) {
            case 0 where !bytes.isEmpty: bytes.remove(at: position)
            case 1 where !bytes.isEmpty: bytes[position] ^= UInt8(1 << int(0...7))
            case 2: bytes.insert(contentsOf: Array(String(pick(Self.noise)).utf8), at: min(position, bytes.count))
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, position + int(1...32))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 4: bytes = Array(bytes.prefix(position))
            default: bytes.append(UInt8.random(in: 0...255, using: &random))
            }
        }
        return Data(bytes)
    }

    // MARK: Manifests

    mutating func digestValue() -> any Sendable {
        switch int(0...15) {
        case 0: return "sha256:../../etc/passwd"
        case 1: return "sha256:" + string(Self.hex, length: 0...70)
        case 2: return "sha256:" + string(Self.hex, length: 64...64).uppercased()
        case 3: return "sha512:" + string(Self.hex, length: 128...128)
        case 4: return int(0...100)
        case 5: return "md5:" + string(Self.hex, length: 32...32)
        default: return "sha256:" + string(Self.hex, length: 64...64)
        }
    }

    mutating func sizeValue() -> any Sendable {
        pick([int(0...100_000_000), -int(1...100), Int.max, 0, 1] as [Int]) as Int as any Sendable
    }

    mutating func descriptor(platform: Bool) -> [String: any Sendable] {
        var object: [String: any Sendable] = [:]
        if chance(95) {
            object["mediaType"] = chance(85)
                ? pick([MediaType.ociManifest, MediaType.dockerManifest, "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.config.v1+json"])
                : pick(["", String(repeating: "x", count: 300), "text/html"])
        }
        if chance(95) { object["digest"] = digestValue() }
        if chance(95) { object["size"] = chance(10) ? pick(["12", "1.5", "null"]) as any Sendable : sizeValue() }
        if platform && chance(90) {
            var platformObject: [String: any Sendable] = [
                "os": pick(["linux", "windows", "unknown", ""]), "architecture": pick(["amd64", "arm64", "arm", "unknown", "x86_64"]),
            ]
            if chance(40) { platformObject["variant"] = pick(["v7", "v8", "8", ""]) }
            object["platform"] = platformObject
        }
        if chance(10) { object["annotations"] = ["org.opencontainers.image.ref.name": string(Self.word, length: 0...10)] }
        if chance(5) { object["urls"] = ["https://example.com/blob"] }
        return object
    }

    mutating func manifestJSON() -> Data {
        var object: [String: any Sendable] = [:]
        if chance(95) { object["schemaVersion"] = chance(90) ? 2 : pick([1, 3, -1]) as any Sendable }
        let index = chance(35)
        if chance(85) {
            object["mediaType"] = chance(85)
                ? (index ? pick([MediaType.ociIndex, MediaType.dockerManifestList]) : pick([MediaType.ociManifest, MediaType.dockerManifest]))
                : pick(["application/vnd.example+json", MediaType.dockerSchema1, ""])
        }
        if index {
            object["manifests"] = (0..<int(0...4)).map { _ in descriptor(platform: true) }
        } else {
            if chance(95) { object["config"] = descriptor(platform: false) }
            if chance(95) { object["layers"] = (0..<int(0...5)).map { _ in descriptor(platform: false) } }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return data
    }

    mutating func manifest() -> Data {
        switch int(0...19) {
        case 0: return Data(repeating: UInt8(ascii: "["), count: int(1...200_000))
        case 1: return Data((String(repeating: #"{"a":"#, count: int(1...50_000)) + "1").utf8)
        case 2: return Data(string(Self.noise + Self.word, length: 0...200).utf8)
        case 3...10: return manifestJSON()
        default: return damage(manifestJSON())
        }
    }

    // MARK: WWW-Authenticate

    mutating func challengeHeader() -> String {
        var challenges: [String] = []
        for _ in 0..<int(1...3) {
            var text = pick(["Bearer", "Basic", "bearer", "Negotiate", "Digest", string(Self.word, length: 1...10)])
            if chance(10) {
                text += " " + string(Array("abcdefABCDEF0123456789-._~+/"), length: 1...40) + pick(["", "=", "=="])
            } else {
                let parameters = (0..<int(0...5)).map { _ -> String in
                    let name = pick(["realm", "service", "scope", "error", "REALM", string(Self.word, length: 1...8)])
                    let pieces = Self.word.map(String.init) + [" ", ",", "=", "\\\"", "\\\\", ":", "/"]
                    let value = chance(70)
                        ? "\"" + (0..<int(0...40)).map { _ in pick(pieces) }.joined() + (chance(90) ? "\"" : "")
                        : string(Self.word, length: 0...20)
                    return name + pick(["=", " = ", "="]) + value
                }
                text += " " + parameters.joined(separator: pick([",", ", ", " ,", ",,"]))
            }
            challenges.append(text)
        }
        let header = challenges.joined(separator: pick([", ", ",", " "]))
        switch int(0...39) {
        case 0: return String(repeating: pick(["\"", "\\", ",", "=", " ", "a="]), count: int(1...20_000))
        case 1...20: return header
        default: return String(decoding: damage(Data(header.utf8)), as: UTF8.self)
        }
    }

    // MARK: Credentials

    mutating func credentialsFile() -> String {
        let keys = ["USERNAME", "PASSWORD", "BEARER_TOKEN", "DOCKER_USER", "DOCKER_PASS", "DOCKER_TOKEN", "TOKEN", "user", "Password"]
        var lines: [String] = []
        for _ in 0..<int(0...6) {
            switch int(0...9) {
            case 0: lines.append("# " + secret())
            case 1: lines.append("")
            case 2: lines.append(secret())
            default:
                let value = pick(keys).hasSuffix("USER") || pick(keys) == "USERNAME" ? string(Self.word, length: 0...10) : secret()
                let quoted = pick(["", "\"", "'"])
                lines.append(pick(["", "export ", "  "]) + pick(keys) + pick(["=", "= ", " ="]) + quoted + value + quoted)
            }
        }
        let text = lines.joined(separator: pick(["\n", "\r\n"]))
        return chance(30) ? String(decoding: damage(Data(text.utf8)), as: UTF8.self) : text
    }

    mutating func authFileJSON() -> Data {
        var auths: [String: any Sendable] = [:]
        for _ in 0..<int(0...3) {
            var entry: [String: any Sendable] = [:]
            switch int(0...4) {
            case 0: entry["auth"] = Data("user:\(secret())".utf8).base64EncodedString()
            case 1: entry["auth"] = secret()  // not base64 of anything
            case 2: entry["identitytoken"] = secret()
            case 3:
                entry["username"] = "user"
                entry["password"] = secret()
            default: entry["auth"] = Data(secret().utf8).base64EncodedString()  // base64 without a colon
            }
            auths[pick(["https://index.docker.io/v1/", "ghcr.io", "127.0.0.1:5000", "quay.io/team", string(Self.word, length: 1...12)])] = entry
        }
        var document: [String: any Sendable] = [:]
        if chance(90) { document["auths"] = chance(90) ? auths as any Sendable : pick([5, "x"]) as any Sendable }
        if chance(20) { document["credHelpers"] = ["ghcr.io": pick(["gcr", "../../bin/sh", "", "ecr-login"])] }
        if chance(20) { document["credsStore"] = pick(["desktop", "pass", "a b", string(Self.word, length: 0...70)]) }
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8)
        return chance(30) ? damage(data) : data
    }
}

/// How a batch went, for the suite's log.
struct Tally {
    var inputs = 0
    var accepted = 0
    var refused = 0
    var slowest: Duration = .zero

    func report(_ name: String, refusedAs: String = "refused with a typed error") {
        print("randomised | \(name) | \(inputs) inputs | \(accepted) accepted, \(refused) \(refusedAs) | 0 crashes | slowest \(slowest)")
    }
}

/// The parsers of what registries, token servers and credential files hand
/// us, fed thousands of generated inputs from fixed seeds: none crashes or
/// hangs, every refusal is a typed error (typed throws guarantee the type),
/// no error message quotes a secret, and what is accepted is valid.
@Suite("Randomised parsers: manifests, WWW-Authenticate, credentials", .timeLimit(.minutes(1)))
struct RandomisedRegistryParserTests {
    /// A hang detector, not a benchmark: generous for a debug build on a busy machine.
    static let perInputLimit: Duration = .seconds(2)

    static func run<Input>(
        _ name: String, count: Int, seed: UInt64, refusedAs: String = "refused with a typed error", generate: (inout UntrustedInput) -> Input,
        _ body: (Input) -> Bool
    ) async -> Tally {
        var input = UntrustedInput(seed: seed)
        var tally = Tally()
        let clock = ContinuousClock()
        for index in 0..<count {
            // The thread goes back to the pool every 250 inputs: the integration
            // tests' servers share this process and its two pool threads.
            if index % 250 == 0 { await Task.yield() }
            let value = generate(&input)
            let started = clock.now
            let accepted = body(value)
            let took = clock.now - started
            tally.slowest = max(tally.slowest, took)
            #expect(took < perInputLimit, "input \(index) of seed \(seed) took \(took)")
            tally.inputs += 1
            if accepted { tally.accepted += 1 } else { tally.refused += 1 }
        }
        tally.report(name, refusedAs: refusedAs)
        return tally
    }

    static let zeroDigest = Digest.sha256(bytes: [UInt8](repeating: 0, count: 32))

    @Test func manifests() async {
        let tally = await Self.run("ManifestDocument(bytes:)", count: 5_000, seed: 0x3A41_F357, generate: { $0.manifest() }) { bytes in
            do throws(ImageSpecError) {
                let manifest = try ManifestDocument(bytes: bytes, contentType: nil, digest: Self.zeroDigest)
                switch manifest.content {
                case .image(let image):
                    #expect(MediaType.isImageManifest(manifest.mediaType))
                    for descriptor in [image.config] + image.layers {
                        #expect(descriptor.size >= 0 && !descriptor.mediaType.isEmpty)
                        #expect(descriptor.digest.hex.utf8.count == descriptor.digest.algorithm.hexLength)
                    }
                case .index(let index):
                    #expect(MediaType.isIndex(manifest.mediaType))
                    #expect(index.manifests.allSatisfy { $0.size >= 0 && !$0.mediaType.isEmpty })
                    _ = index.entry(for: Platform.host)
                }
                return true
            } catch {
                switch error {
                case .invalidManifest, .unsupportedManifest: break
                default: Issue.record("unexpected error kind: \(error)")
                }
                return false
            }
        }
        #expect(tally.accepted > 200 && tally.refused > 1_000)
    }

    @Test func wwwAuthenticate() async {
        let tally = await Self.run("AuthChallenge.parse", count: 5_000, seed: 0xC4A1_1E46, refusedAs: "gave no challenge", generate: { $0.challengeHeader() }) { header in
            let challenges = AuthChallenge.parse(header)
            for challenge in challenges {
                #expect(!challenge.scheme.isEmpty && challenge.scheme == challenge.scheme.lowercased())
                #expect(challenge.parameters.keys.allSatisfy { $0 == $0.lowercased() })
            }
            return !challenges.isEmpty
        }
        #expect(tally.accepted > 1_000)
    }

    @Test func retryAfter() async {
        let tally = await Self.run("Retry-After", count: 5_000, seed: 0x7E72_AF7E, refusedAs: "not understood (nil)", generate: { input -> String in
            switch input.int(0...3) {
            case 0: return String(input.int(-100...1_000_000))
            case 1: return input.pick(["Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 2094 08:49:37 GMT", "99999999999999999999999", " 3 "])
            default: return input.string(UntrustedInput.word + UntrustedInput.noise, length: 0...40)
            }
        }) { text in
            guard let delay = RegistryClient.parseRetryAfter(text) else { return false }
            // Whatever it says, the wait the retry budget uses is bounded.
            let configuration = RegistryClientConfiguration()
            var budget = RetryBudget(configuration: configuration)
            budget.attempt()
            let wait = try? budget.failed(url: "https://registry.example/v2/", AttemptFailure(status: 429, detail: "", retryAfter: delay))
            #expect(wait.map { $0 >= .zero && $0 <= configuration.maxRetryDelay } == true, "\(text) gave \(String(describing: wait))")
            return true
        }
        #expect(tally.accepted > 100)
    }

    @Test func credentialsFiles() async {
        let path = "/run/user/1000/hocker-credentials"
        let tally = await Self.run("CredentialsFile.parse", count: 5_000, seed: 0xC8ED_F11E, generate: { $0.credentialsFile() }) { text in
            do throws(CredentialError) {
                _ = try CredentialsFile.parse(text, path: path)
                return true
            } catch {
                #expect(error.description.contains(path))
                #expect(!error.description.contains(UntrustedInput.secretMarker), "a secret in: \(error.description)")
                return false
            }
        }
        #expect(tally.accepted > 200 && tally.refused > 200)
    }

    @Test func authFiles() async {
        let path = "/home/user/.docker/config.json"
        let tally = await Self.run("AuthFile (config.json / auth.json)", count: 5_000, seed: 0xA07F_11E5, generate: { $0.authFileJSON() }) { data in
            do throws(CredentialError) {
                _ = try AuthFile(path: path, data: data)
                return true
            } catch {
                #expect(error.description.contains(path))
                #expect(!error.description.contains(UntrustedInput.secretMarker), "a secret in: \(error.description)")
                return false
            }
        }
        #expect(tally.accepted > 200 && tally.refused > 200)
    }
}
