import Foundation
import RegistryTestBed
import Testing

/// hocker as a person runs it: started the way a shell starts a process (no
/// signal blocked, default handlers, or SIGINT ignored for a background
/// job), signalled with `kill` or with Ctrl-C in a real terminal (tmux),
/// and watched there while it works.
extension FaultTests {
    @Suite("As a shell runs it")
    struct ShellTests {
        /// How the process is started and signalled.
        enum Start: String, Sendable {
            /// `exec`'d in the foreground, as a shell runs a command: the signal goes to it.
            case foreground
            /// `cmd &` in a non-interactive `bash -c`, then `kill` of its pid.
            case backgroundJob
        }

        /// What the command is waiting for when the signal arrives.
        enum Moment: String, Sendable {
            case midBlob = "in the middle of a blob"
            case beforeHeaders = "waiting for the headers"
            case retrySleep = "sleeping before a retry"
            case tokenRequest = "waiting for a token"
        }

        struct Case: Sendable, CustomTestStringConvertible {
            var command: Command
            var signal: Int32
            var start: Start
            var moment: Moment
            /// With `--cache`: the download in progress in the cache is removed too.
            var cache = false
            var testDescription: String {
                "\(command.tool) \(signal == SIGINT ? "SIGINT" : "SIGTERM") \(start.rawValue), \(moment.rawValue)\(cache ? ", with --cache" : "")"
            }
        }

        static let cases: [Case] = [
            Case(command: .image(jobs: 4), signal: SIGTERM, start: .backgroundJob, moment: .midBlob),
            Case(command: .image(jobs: 4), signal: SIGINT, start: .foreground, moment: .midBlob),
            Case(command: .layer, signal: SIGINT, start: .foreground, moment: .beforeHeaders),
            Case(command: .image(jobs: 4), signal: SIGINT, start: .foreground, moment: .retrySleep),
            Case(command: .layer, signal: SIGTERM, start: .backgroundJob, moment: .retrySleep),
            Case(command: .config, signal: SIGTERM, start: .foreground, moment: .tokenRequest),
            Case(command: .image(jobs: 4), signal: SIGTERM, start: .backgroundJob, moment: .midBlob, cache: true),
        ]

        /// The environment of a user's shell: PATH, an empty HOME, a TMPDIR to watch.
        static func environment(temporary: String) -> [String: String] {
            var environment = HockerBinary.isolatedEnvironment.merging(["TMPDIR": temporary]) { $1 }
            environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            return environment
        }

        @Test("a signal ends the run within 1 s, temporary files removed, the target untouched", arguments: cases)
        func signalled(_ testCase: Case) async throws {
            let fixture = try FaultFixture.shared
            let directory = try Scratch.directory("shell-signal")
            let temporary = try Scratch.directory("shell-tmp")
            defer {
                Scratch.remove(directory)
                Scratch.remove(temporary)
            }
            let registry = testCase.moment == .tokenRequest ? fixture.token : fixture.open
            let image = testCase.moment == .tokenRequest ? fixture.publicImage : fixture.small
            try await withFaultProxy(in: registry) { proxy in
                let layer = fixture.bigLayer.digest
                switch testCase.moment {
                case .midBlob: proxy.add(.blobGET(layer), .stallAfter(bytes: 100_000, .seconds(60)))
                case .beforeHeaders: proxy.add(.blobGET(layer), .stallBeforeHeaders(.seconds(60)))
                case .retrySleep: proxy.add(.everything, .tooManyRequests(.seconds(30)))
                case .tokenRequest: proxy.add(.tokenRequests, .stallBeforeHeaders(.seconds(60)))
                }
                let target = "\(directory)/\(testCase.command.outputName)"
                let previous = Data("the previous content, which must survive\n".utf8)
                try previous.write(to: URL(fileURLWithPath: target))
                var argv = [HockerBinary.path(testCase.command.tool), "--registry", proxy.v2URL, "--out=\(target)"]
                let cache = "\(directory)/cache"
                if testCase.cache { argv += ["--cache", cache] }
                switch testCase.command {
                case .layer: argv += ["--layer", layer, image.repository, "unused"]
                default: argv += [image.repository, image.tag]
                }
                let quoted = argv.map { "'\($0)'" }.joined(separator: " ")
                let pidFile = "\(directory)/pid"
                let script = testCase.start == .foreground
                    ? "echo $$ > '\(pidFile)'; exec \(quoted)"
                    : "\(quoted) & echo $! > '\(pidFile)'; wait $!"
                let shell = try ShellProcess("/bin/bash", ["-c", script], environment: Self.environment(temporary: temporary), directory: temporary)
                defer { shell.stop() }

                // Wait until the moment has come: the proxy has seen what it holds.
                let clock = ContinuousClock()
                let ready = clock.now + .seconds(30)
                func arrived() -> Bool {
                    switch testCase.moment {
                    case .midBlob: proxy.bytesServed(blob: layer) >= 100_000
                    case .beforeHeaders: proxy.requests.contains { $0.kind == .blob && $0.path.hasSuffix(layer) }
                    case .retrySleep: proxy.requests.contains { $0.status == 429 }
                    case .tokenRequest: proxy.requests.contains { $0.kind == .token }
                    }
                }
                while !arrived(), clock.now < ready { try await Task.sleep(for: .milliseconds(20)) }
                #expect(arrived(), "the run never reached the moment: \(shell.stderrText)")
                try await Task.sleep(for: .milliseconds(300))
                let pid = try #require(pid_t(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
                let sent = clock.now
                kill(pid, testCase.signal)
                let status = await shell.wait(timeout: .seconds(5))
                let elapsed = (shell.endedAt ?? clock.now) - sent
                #expect(status == 128 + testCase.signal, "exit \(String(describing: status)): \(shell.stderrText)")
                #expect(elapsed < .seconds(1), "took \(elapsed)")
                #expect(Scratch.contents(temporary).allSatisfy { $0.hasPrefix("stdout-") || $0.hasPrefix("stderr-") }, "left in TMPDIR: \(Scratch.contents(temporary))")
                #expect(
                    Scratch.contents(directory) == ([testCase.command.outputName, "pid"] + (testCase.cache ? ["cache"] : [])).sorted(),
                    "left behind: \(Scratch.contents(directory))")
                if testCase.cache {
                    let partial = Scratch.contents("\(cache)/blobs/sha256").filter { $0.contains(".tmp-") }
                    #expect(partial.isEmpty, "left in the cache: \(partial)")
                }
                #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == previous)
                print("shell scenario | \(testCase.testDescription) | exit \(status.map(String.init) ?? "none") after \(elapsed) | temporary files removed, target untouched")
            }
        }

        /// A tmux server of its own (its own socket), so nothing reaches the user's.
        struct Terminal {
            let socket: String
            let session = "hocker"
            /// Where tmux's own output goes (its server keeps the descriptors open, so no pipe ever ends).
            let scratch: String
            let tmux: String

            init(columns: Int, environment: [String: String], directory: String, scratch: String) async throws {
                socket = "\(directory)/tmux.sock"
                self.scratch = scratch
                tmux = try TestTools.require("tmux")
                let exports = environment.map { "export \($0.key)='\($0.value)'" }.joined(separator: "; ")
                let status = try await run([
                    "-f", "/dev/null", "new-session", "-d", "-s", session, "-x", String(columns), "-y", "40",
                    "bash --norc --noprofile -c \"\(exports); cd '\(directory)'; exec bash --norc --noprofile -i\"",
                ]).status
                try #require(status == 0, "tmux new-session failed")
            }

            /// Runs a tmux command against this server; its status and output.
            @discardableResult
            func run(_ arguments: [String]) async throws -> (status: Int32?, output: String) {
                let process = try ShellProcess(tmux, ["-S", socket] + arguments, environment: ["PATH": "/usr/bin:/bin", "TERM": "xterm"], directory: scratch)
                let status = await process.wait(timeout: .seconds(10))
                process.stop()
                return (status, String(decoding: process.stdout, as: UTF8.self))
            }

            func type(_ keys: String...) async throws {
                try await run(["send-keys", "-t", session] + keys)
            }

            /// The visible screen, one string per line.
            func screen() async throws -> [String] {
                try await run(["capture-pane", "-p", "-t", session]).output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            }

            /// Waits until a screen line satisfies `condition`; the screen then.
            func waitFor(_ timeout: Duration, _ condition: (String) -> Bool) async throws -> [String] {
                let clock = ContinuousClock()
                let deadline = clock.now + timeout
                var lines: [String] = []
                while clock.now < deadline {
                    lines = try await screen()
                    if lines.contains(where: condition) { return lines }
                    try await Task.sleep(for: .milliseconds(50))
                }
                return lines
            }

            func close() async {
                _ = try? await run(["kill-server"])
            }
        }

        static let tmuxMissing = TestTools.path("tmux") == nil && !TestTools.requireIntegration()

        @Test(
            "Ctrl-C in a terminal stops a pull within 1 s; live progress fits a 40-column terminal",
            .enabled(if: !tmuxMissing, "tmux is not installed (apt-get install tmux)"),
            arguments: [40, 100])
        func ctrlC(columns: Int) async throws {
            let fixture = try FaultFixture.shared
            let directory = try Scratch.directory("tmux")
            let temporary = try Scratch.directory("tmux-tmp")
            defer {
                Scratch.remove(directory)
                Scratch.remove(temporary)
            }
            try await withFaultProxy(in: fixture.open) { proxy in
                proxy.add(.blobGET(fixture.bigLayer.digest), .stallAfter(bytes: 100_000, .seconds(60)))
                let terminal = try await Terminal(
                    columns: columns, environment: Self.environment(temporary: temporary), directory: directory, scratch: temporary)
                let command = "'\(HockerBinary.path("hocker"))' image --registry \(proxy.v2URL) --out image.tar \(fixture.small.repository) \(fixture.small.tag); echo \"EXIT:$? AT:$EPOCHREALTIME\""
                try await terminal.type(command, "Enter")
                // The live lines: one per blob in flight, and the total.
                let progress = try await terminal.waitFor(.seconds(30)) { $0.hasPrefix("total 3/4") }
                #expect(progress.contains { $0.hasPrefix("total 3/4") }, "no progress shown: \(progress.joined(separator: "\n"))")
                // Redrawn four times a second: still one total line, every line within the width.
                try await Task.sleep(for: .milliseconds(800))
                let later = try await terminal.screen()
                #expect(later.filter { $0.hasPrefix("total ") }.count == 1, "\(later.joined(separator: "\n"))")
                #expect(later.allSatisfy { $0.count <= columns }, "\(later.joined(separator: "\n"))")
                // From the key press to the shell's next command, by the wall clock the
                // shell reads when hocker has exited: not by when this test next polls the screen.
                let pressed = Date().timeIntervalSince1970
                try await terminal.type("C-c")
                // The terminal echoes the keys as ^C before the shell's next output.
                let exitLine = /(?:\^C)?EXIT:(\d+) AT:([\d.]+)/
                let after = try await terminal.waitFor(.seconds(5)) { $0.wholeMatch(of: exitLine) != nil }
                let match = try #require(after.lazy.compactMap { $0.wholeMatch(of: exitLine) }.first, "\(after.joined(separator: "\n"))")
                let elapsed = Duration.seconds(try #require(Double(match.output.2)) - pressed)
                #expect(match.output.1 == "130", "\(after.joined(separator: "\n"))")
                #expect(elapsed < .seconds(1), "took \(elapsed)")
                await terminal.close()
                #expect(Scratch.contents(directory).allSatisfy { $0 == "tmux.sock" }, "left behind: \(Scratch.contents(directory))")
                print("shell scenario | Ctrl-C in tmux, \(columns) columns, live progress | EXIT:130 after \(elapsed) | screen:\n\(progress.filter { !$0.isEmpty }.joined(separator: "\n"))")
            }
        }
    }
}
