import Foundation
import RegistryTestBed
import Testing

/// The self-contained hocker the sandboxed Nix builds and the chroot test
/// run: `HOCKER_STATIC_DIR` when set (a directory with bin/hocker, as
/// `scripts/build-static` prints it), else `scripts/build-static --debug
/// --no-build`: the debug build the tests run from, linked again as a
/// static executable (seconds), once per test process.
enum StaticHocker {
    /// The directory with bin/hocker.
    static var directory: String {
        get async throws { try await build.value.directory }
    }

    private static let build = Task<(directory: String, duration: Duration), any Error> {
        if let given = ProcessInfo.processInfo.environment["HOCKER_STATIC_DIR"], !given.isEmpty { return (given, .zero) }
        let started = ContinuousClock.now
        let result = try await runProcess(
            NixBed.packageRoot + "/scripts/build-static", ["--debug", "--no-build"], environment: ProcessInfo.processInfo.environment, timeout: .seconds(1800))
        guard result.succeeded, let last = result.stdoutText.split(separator: "\n").last.map(String.init),
              FileManager.default.isExecutableFile(atPath: last + "/bin/hocker")
        else {
            throw TestBedError.processFailed(
                command: "scripts/build-static --debug --no-build", status: result.status, stderrTail: String(result.stderrText.suffix(4000)))
        }
        let duration = ContinuousClock.now - started
        // The suite's time budget counts this: say what it cost.
        print("static hocker for the sandbox: \(last) (scripts/build-static --debug --no-build took \(duration))")
        return (last, duration)
    }
}
