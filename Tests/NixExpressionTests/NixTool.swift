import Foundation
import RegistryTestBed
import Testing

/// Runs the installed Nix tools (when there are any) to check generated text
/// against Nix itself. Tests that need them skip with a message when they are
/// missing, and fail instead under `HOCKER_REQUIRE_INTEGRATION=1`.
enum NixTool {
    static var required: Bool { ProcessInfo.processInfo.environment["HOCKER_REQUIRE_INTEGRATION"] == "1" }

    static func path(_ name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/nix/var/nix/profiles/default/bin"]
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func available(_ name: String) -> Bool { path(name) != nil }

    static func missingComment(_ name: String) -> Comment {
        "\(name) is not installed (Debian: apt-get install nix-bin); set HOCKER_REQUIRE_INTEGRATION=1 to fail instead of skipping"
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `name` with `arguments` (and `input` on stdin); returns stdout, throws with stderr on failure.
    /// Waited for without blocking a thread of the concurrency pool, which the other tests share.
    static func run(_ name: String, _ arguments: [String], input: String? = nil) async throws -> String {
        guard let executable = path(name) else { throw Failure(description: "\(name) is not installed") }
        let result = try await runChecked(executable, arguments, stdin: input.map { Data($0.utf8) })
        return String(decoding: result.stdout, as: UTF8.self)
    }
}

/// Golden files under `Fixtures/`; `HOCKER_UPDATE_GOLDEN=1` rewrites them.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func read(_ name: String) throws -> String {
        try String(contentsOfFile: path(name), encoding: .utf8)
    }

    /// Compares `actual` with the golden file `name` (or writes it when updating).
    static func check(_ actual: String, against name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if ProcessInfo.processInfo.environment["HOCKER_UPDATE_GOLDEN"] == "1" {
            try actual.write(toFile: path(name), atomically: true, encoding: .utf8)
            return
        }
        let expected = try read(name)
        #expect(actual == expected, "differs from Fixtures/\(name) (HOCKER_UPDATE_GOLDEN=1 rewrites it)", sourceLocation: sourceLocation)
    }
}
