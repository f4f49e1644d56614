import ImageReference
import ImageSpec
import Testing

/// `--platform` values, parsed once into what a run asks for.
@Suite("Platform choice")
struct PlatformChoiceTests {
    static let amd64 = Platform(os: "linux", architecture: "amd64")
    static let arm64 = Platform(os: "linux", architecture: "arm64", variant: "v8")

    @Test(arguments: [
        ([], PlatformChoice.host),
        (["all"], .all),
        (["ALL"], .all),
        (["Any"], .any),
        (["linux/amd64"], .platforms([amd64])),
        (["linux/amd64", "linux/arm64/v8"], .platforms([amd64, arm64])),
        // The same platform twice, however spelt, counts once.
        (["linux/amd64", "linux/x86_64", "LINUX/AMD64"], .platforms([amd64])),
        (["linux/arm64", "linux/aarch64/v8"], .platforms([Platform(os: "linux", architecture: "arm64")])),
    ])
    func parses(_ values: [String], _ choice: PlatformChoice) throws {
        #expect(try PlatformChoice(parsing: values) == choice)
    }

    @Test(arguments: [
        (["all", "linux/amd64"], "--platform all takes no other --platform"),
        (["linux/amd64", "any"], "--platform any takes no other --platform"),
        (["all", "all"], "--platform all takes no other --platform"),
        (["linux"], "invalid platform 'linux'"),
        (["linux/amd64/v1/x"], "invalid platform"),
    ])
    func refuses(_ values: [String], _ message: String) {
        let error = #expect(throws: PlatformChoiceError.self) { try PlatformChoice(parsing: values) }
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
        #expect(error?.exitStatus == .usage)
    }

    @Test(arguments: [
        (PlatformChoice.host, true, [String]()),
        (.any, true, ["any"]),
        (.all, false, ["all"]),
        (.platforms([amd64]), true, ["linux/amd64"]),
        (.platforms([amd64, arm64]), false, ["linux/amd64", "linux/arm64/v8"]),
    ])
    func picksAndRecords(_ choice: PlatformChoice, _ picksOne: Bool, _ recorded: [String]) throws {
        #expect(choice.picksOne == picksOne)
        #expect(choice.recorded == recorded)
        #expect(try PlatformChoice(parsing: recorded) == choice)
    }
}
