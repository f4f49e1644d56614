import ImageReference
import RegistryTestBed
import Testing

/// Builds untrusted-looking text: valid inputs from a grammar, then mutated
/// (characters inserted, dropped, replaced, pieces repeated), plus noise.
struct InputFuzzer: SeededInput {
    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    static let lowerHex = Array("0123456789abcdef")
    static let lower = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    static let word = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
    /// Characters that sit on the edges of the grammars, and some that never belong.
    static let tricky: [Character] = [
        ":", "/", "@", ".", "-", "_", "__", "..", " ", "\t", "\n", "\0", "\\", "\"", "'", "%", "+", "=", ",", ";", "?", "#", "[", "]",
        "A", "Z", "é", "ß", "\u{202E}", "😀", "\u{FEFF}", "０",
    ].map { Character(String($0.unicodeScalars.first!)) }

    /// `text` with a few random edits.
    mutating func mutate(_ text: String) -> String {
        var characters = Array(text)
        for _ in 0..<int(1...4) {
            let position = characters.isEmpty ? 0 : int(0...characters.count - 1)
            switch int(0...5) {
            case 0 where !characters.isEmpty: characters.remove(at: position)
            case 1: characters.insert(pick(Self.tricky), at: min(position, characters.count))
            case 2 where !characters.isEmpty: characters[position] = pick(Self.tricky + Self.word)
            case 3 where !characters.isEmpty:
                let end = min(characters.count, position + int(1...8))
                characters.insert(contentsOf: characters[position..<end], at: position)
            case 4 where !characters.isEmpty: characters = Array(characters.prefix(position))
            default: characters.append(pick(Self.tricky + Self.word))
            }
        }
        return String(characters)
    }

    /// Mostly-valid inputs from `valid`, mutated about half the time, and pure noise now and then.
    mutating func input(_ valid: (inout InputFuzzer) -> String) -> String {
        switch int(0...9) {
        case 0: return string(Self.tricky + Self.word, length: 0...40)
        case 1...4: return valid(&self)
        default: return mutate(valid(&self))
        }
    }

    // Grammar pieces.

    mutating func digest() -> String {
        chance(80) ? "sha256:" + string(Self.lowerHex, length: 64...64) : "sha512:" + string(Self.lowerHex, length: 128...128)
    }

    mutating func pathComponent() -> String {
        var text = string(Self.lower, length: 1...8)
        if chance(30) { text += pick([".", "_", "__", "-", "---"]) + string(Self.lower, length: 1...6) }
        return text
    }

    mutating func registryHost() -> String {
        pick(["docker.io", "ghcr.io", "quay.io", "localhost", "127.0.0.1", "registry.example.com", "[::1]", "index.docker.io"])
            + (chance(40) ? ":\(int(1...65535))" : "")
    }

    mutating func reference() -> String {
        var text = chance(50) ? registryHost() + "/" : ""
        text += (0..<int(1...4)).map { _ in pathComponent() }.joined(separator: "/")
        if chance(50) { text += ":" + pick(Self.word.map(String.init)) + string(Self.word + [".", "-"], length: 0...20) }
        if chance(25) { text += "@" + digest() }
        return text
    }

    mutating func platform() -> String {
        var parts = [pick(["linux", "windows", "darwin", "freebsd"]), pick(["amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64"])]
        if chance(40) { parts.append(pick(["v5", "v6", "v7", "v8", "v1"])) }
        return parts.joined(separator: "/")
    }

    mutating func registryURI() -> String {
        let scheme = pick(["", "http://", "https://", "HTTPS://", "ftp://"])
        return scheme + registryHost() + pick(["", "/", "/v2", "/v2/", "/prefix/v2/"])
    }
}

/// How a batch of generated inputs went, for the suite's log.
struct FuzzTally {
    var inputs = 0
    var accepted = 0
    var refused = 0
    var slowest: Duration = .zero

    func report(_ name: String) {
        print("randomised | \(name) | \(inputs) inputs | \(accepted) accepted, \(refused) refused with a typed error | 0 crashes | slowest \(slowest)")
    }
}

/// The parsers of what users type, fed thousands of generated inputs from a
/// fixed seed: none crashes or hangs, every refusal is a `ReferenceError`
/// (typed throws guarantee the type), and whatever is accepted round-trips.
@Suite("Randomised parsers: references, digests, platforms, registries", .timeLimit(.minutes(1)))
struct RandomisedReferenceParserTests {
    static let count = 10_000
    /// A hang detector, not a benchmark: generous for a debug build on a busy machine.
    static let perInputLimit: Duration = .seconds(2)

    /// Runs `body` on `count` inputs and checks the time each one took.
    /// Every 250 inputs it gives its thread back: all test targets share one
    /// process, and a loop that held both threads of a 2-core concurrency
    /// pool for seconds starved the servers the integration tests run in it.
    static func fuzz(
        _ name: String, seed: UInt64, generate: (inout InputFuzzer) -> String, _ body: (String) -> Bool
    ) async -> FuzzTally {
        var fuzzer = InputFuzzer(seed: seed)
        var tally = FuzzTally()
        let clock = ContinuousClock()
        for index in 0..<count {
            if index % 250 == 0 { await Task.yield() }
            let text = fuzzer.input(generate)
            let started = clock.now
            let accepted = body(text)
            let took = clock.now - started
            tally.slowest = max(tally.slowest, took)
            #expect(took < perInputLimit, "input \(index) of seed \(seed) took \(took): \(text.debugDescription)")
            tally.inputs += 1
            if accepted { tally.accepted += 1 } else { tally.refused += 1 }
        }
        tally.report(name)
        return tally
    }

    @Test func digests() async {
        let tally = await Self.fuzz("Digest(parsing:)", seed: 0xD16E_5701, generate: { $0.digest() }) { text in
            do throws(ReferenceError) {
                let digest = try Digest(parsing: text, allowBareHex: text.count % 2 == 0)
                #expect(digest.hex.utf8.count == digest.algorithm.hexLength)
                #expect(!digest.description.contains("/") && !digest.description.contains(".."))
                #expect(try Digest(parsing: digest.description) == digest, "\(text.debugDescription)")
                return true
            } catch {
                #expect(error.description.hasPrefix("invalid digest"))
                return false
            }
        }
        #expect(tally.accepted > 500 && tally.refused > 500)
    }

    @Test func references() async {
        let tally = await Self.fuzz("ImageReference(parsing:)", seed: 0x2EF5_0002, generate: { $0.reference() }) { text in
            do throws(ReferenceError) {
                let reference = try ImageReference(parsing: text)
                #expect(!reference.repository.split(separator: "/").contains(".."))
                // What was accepted prints as a reference that parses to the same thing.
                let again = try ImageReference(parsing: reference.description)
                #expect(again == reference, "\(text.debugDescription) → \(reference.description)")
                return true
            } catch {
                return false
            }
        }
        #expect(tally.accepted > 500 && tally.refused > 500)
    }

    @Test func tags() async {
        let tally = await Self.fuzz("ImageReference.validateTag", seed: 0x7A65_0003, generate: { f in f.string(InputFuzzer.word + [".", "-"], length: 1...130) }) {
            text in
            do throws(ReferenceError) {
                try ImageReference.validateTag(text)
                #expect(!text.hasPrefix(".") && !text.hasPrefix("-") && !text.contains("/") && text.utf8.count <= 128)
                return true
            } catch {
                return false
            }
        }
        #expect(tally.accepted > 100 && tally.refused > 100)
    }

    @Test func platforms() async {
        let tally = await Self.fuzz("Platform(parsing:)", seed: 0x91A7_0004, generate: { $0.platform() }) { text in
            do throws(ReferenceError) {
                let platform = try Platform(parsing: text)
                #expect(try Platform(parsing: platform.description) == platform)
                _ = platform.normalized.matches(.host)
                return true
            } catch {
                #expect(error == .invalidPlatform(text))
                return false
            }
        }
        #expect(tally.accepted > 500 && tally.refused > 500)
    }

    @Test func registryURIs() async {
        let tally = await Self.fuzz("RegistryEndpoint(parsing:)", seed: 0x4E61_0005, generate: { $0.registryURI() }) { text in
            do throws(ReferenceError) {
                let endpoint = try RegistryEndpoint(parsing: text, insecure: text.count % 3 == 0)
                #expect(endpoint.scheme == "http" || endpoint.scheme == "https")
                #expect(!endpoint.host.contains("@") && !endpoint.host.contains("/") && !endpoint.host.isEmpty)
                let again = try RegistryEndpoint(parsing: endpoint.v2URL)
                #expect(again.v2URL == endpoint.v2URL, "\(text.debugDescription) → \(endpoint.v2URL)")
                return true
            } catch {
                return false
            }
        }
        #expect(tally.accepted > 500 && tally.refused > 500)
    }
}
