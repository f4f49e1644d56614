@testable import HockerCLI
import Testing

/// The lock and look-up commands' own checks, before any request.
@Suite("Lock and look-up command lines")
struct LockCommandLineTests {
    @Test(arguments: [
        (["lock", "add"], "Missing expected argument '<REFERENCE> ...'"),
        (["lock", "add", "--name", "x", "a", "b"], "--name names one entry"),
        (["lock", "add", "--name", "a/b", "a"], "invalid entry name 'a/b'"),
        (["lock", "add", "--final-name", "x:y", "a", "b"], "--final-name is for one entry"),
        (["lock", "add", "--final-name", "x@sha256:" + String(repeating: "0", count: 64), "a"], "not a digest"),
        (["lock", "add", "--platform", "all", "--platform", "linux/amd64", "a"], "--platform all takes no other"),
        (["lock", "add", "--platform", "linux", "a"], "invalid platform"),
        (["lock", "update", "--platform", "linux/amd64"], "each entry keeps the platforms it was added with"),
        (["lock", "check", "--registry", "http://127.0.0.1:5000/v2/"], "each entry names its registry"),
        (["lock", "update", "--jobs", "0"], "--jobs"),
        (["lock", "remove"], "Missing expected argument '<NAME> ...'"),
        (["inspect", "--json", "--raw", "x"], "exclude each other"),
        (["inspect", "--raw", "--platform", "all", "x"], "--raw prints one manifest"),
        (["tags", "--page-size", "0", "x"], "--page-size"),
        (["tags", "--platform", "linux/amd64", "x"], "tags are not per platform"),
    ])
    func refused(_ arguments: [String], _ mentions: String) {
        #expect {
            _ = try Hocker.parseAsRoot(arguments)
        } throws: { error in
            Hocker.exitCode(for: error) != .success && Hocker.message(for: error).contains(mentions)
        }
    }

    @Test func updateParses() throws {
        let command = try #require(try Hocker.parseAsRoot(["lock", "update", "app", "base", "--json", "--lock-file", "ci/images.lock.json", "--jobs", "3"]) as? LockUpdateCommand)
        #expect(command.options.names == ["app", "base"])
        #expect(command.options.json)
        #expect(command.options.lockOptions.lockFile == "ci/images.lock.json")
        #expect(command.options.lockOptions.flag == "--lock-file ci/images.lock.json ")
        #expect(command.options.jobsOption.jobs == 3)
    }

    @Test func addParses() throws {
        let command = try #require(try Hocker.parseAsRoot(["lock", "add", "--platform", "all", "--final-name", "local/app:pinned", "--name", "web", "ghcr.io/o/app:1"]) as? LockAddCommand)
        #expect(command.references == ["ghcr.io/o/app:1"])
        #expect(try LockAddCommand.splitFinalName("local/app:pinned") == ("local/app", "pinned"))
        #expect(try LockAddCommand.splitFinalName("registry.example:5000/app") == ("registry.example:5000/app", nil))
        #expect(command.lockOptions.flag == "")
    }

    @Test func theListIsATable() {
        #expect(LockListCommand.table([["NAME", "REFERENCE", "SIZE"], ["app", "127.0.0.1:5000/team/app:1", "1.0 kB"], ["longer-name", "x", "2 B"]]) == [
            "NAME         REFERENCE                  SIZE",
            "app          127.0.0.1:5000/team/app:1  1.0 kB",
            "longer-name  x                          2 B",
        ])
    }
}
