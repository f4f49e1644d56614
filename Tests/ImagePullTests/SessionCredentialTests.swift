import ImageLock
import ImagePull
import ImageReference
import ImageSpec
import RegistryClient
import RegistryTestBed
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Authentication through a pull session: tokens shared by every entry of
/// a run, and credential helpers that are asked only when a registry
/// challenges and cannot hang the run.
@Suite("Pull session: tokens and credential helpers", .timeLimit(.minutes(1)))
struct SessionCredentialTests {
    /// Lock entries of one run share the session's client, and with it
    /// the token of each repository: one token request per repository,
    /// however many entries and however many run at once.
    @Test(arguments: [(1, 6, 8), (2, 3, 8), (1, 6, 1)])
    func oneTokenPerRepository(repositories: Int, entriesEach: Int, jobs: Int) async throws {
        try await SessionBed.run(auth: .bearer(), image: nil) { bed in
            var additions: [LockWorkflow.Addition] = []
            for repository in (1...repositories).map({ "team/app\($0)" }) {
                bed.registry.push(.sessionSmall, to: repository, tags: (1...entriesEach).map { "v\($0)" })
                for tag in (1...entriesEach).map({ "v\($0)" }) {
                    additions.append(try SessionLockTests.addition(bed, repository, tag: tag, name: "\(repository.dropFirst(5))-\(tag)"))
                }
            }
            let workflow = LockWorkflow(path: bed.path("images.lock.json"), jobs: jobs, temporaryPaths: TemporaryPaths())
            try await SessionLockTests.add(additions, bed: bed, workflow: workflow)
            #expect(try workflow.read().entries.count == repositories * entriesEach)
            let tokens = bed.registry.issuedTokens
            #expect(tokens.count == repositories, "\(tokens.map(\.scopes))")
            #expect(Set(tokens.flatMap(\.scopes)) == Set((1...repositories).map { "repository:team/app\($0):pull" }))
        }
    }

    /// The user's credential goes to the token realm once per repository,
    /// and never to the registry itself: it gets the token.
    @Test func userCredentialToTheRealmOnce() async throws {
        try await SessionBed.run(auth: .bearer(users: ["alice": "s3cret"]), image: .sessionSmall) { bed in
            bed.registry.push(.sessionSmall, to: "team/app", tags: ["a", "b", "c"])
            let credentials = try CredentialResolver(options: CredentialOptions(username: "alice", password: "s3cret", environment: bed.environment))
            let target = try bed.target()
            try await bed.session({ $0.credentials = credentials }) { session in
                try await session.image(target, platforms: .host, format: .oci, to: bed.path("layout"))
                for tag in ["a", "b", "c"] { _ = try await session.digest(try bed.target(tag: tag), platform: nil) }
            }
            let tokenRequests = bed.registry.requests(.tokenRequests)
            #expect(tokenRequests.count == 1)
            #expect(tokenRequests.allSatisfy { $0.authorization?.hasPrefix("Basic ") == true })
            #expect(bed.registry.requests(.registryRequests).allSatisfy { $0.authorization?.hasPrefix("Basic ") != true })
        }
    }

    // MARK: Credential helpers

    /// A `docker-credential-slow` that never answers: it writes its pid and
    /// its child's, then waits on the child (a `sleep` far longer than any test).
    struct SlowHelper {
        let directory: String
        var pidFile: String { directory + "/helper.pid" }
        var childPidFile: String { directory + "/child.pid" }
        var authFile: String { directory + "/auth.json" }

        init(in directory: String) throws {
            self.directory = directory
            let bin = directory + "/bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            let script = """
                #!/bin/sh
                echo $$ > '\(directory)/helper.pid'
                sleep 120 &
                echo $! > '\(directory)/child.pid'
                wait
                """
            try Data(script.utf8).write(to: URL(fileURLWithPath: bin + "/docker-credential-slow"))
            guard chmod(bin + "/docker-credential-slow", 0o755) == 0 else { throw POSIXError(.EACCES) }
            try Data(#"{"credsStore": "slow"}"#.utf8).write(to: URL(fileURLWithPath: authFile))
        }

        /// The run's credentials: the auth file, the helper on `PATH`.
        func credentials(_ bed: SessionBed) throws -> CredentialResolver {
            var environment = bed.environment
            environment["PATH"] = directory + "/bin:/usr/bin:/bin"
            return try CredentialResolver(options: CredentialOptions(authFile: authFile, environment: environment, children: ChildProcesses()))
        }

        /// The pids the helper wrote: itself and its child.
        var pids: [pid_t] {
            [pidFile, childPidFile].compactMap { contents($0).flatMap { pid_t(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) } }
        }
    }

    /// Against a registry that asks for no credentials the helper is never
    /// run, so it delays nothing.
    @Test(arguments: ["image", "pin", "lock add"])
    func helperNotRunForAnOpenRegistry(_ useCase: String) async throws {
        try await SessionBed.run { bed in
            let helper = try SlowHelper(in: bed.path("helper"))
            let credentials = try helper.credentials(bed)
            let target = try bed.target()
            let start = ContinuousClock.now
            try await bed.session({ $0.credentials = credentials }) { session in
                switch useCase {
                case "image": try await session.image(target, platforms: .host, format: .docker, to: bed.path("image.tar"))
                case "pin": _ = try await session.pin(target, platforms: .host, name: "app")
                default:
                    let workflow = LockWorkflow(path: bed.path("lock.json"), temporaryPaths: TemporaryPaths())
                    _ = try await session.lockAdd([try SessionLockTests.addition(bed, "team/app")], workflow: workflow)
                }
            }
            #expect(ContinuousClock.now - start < .seconds(20))
            #expect(!FileManager.default.fileExists(atPath: helper.pidFile))
        }
    }

    /// Against a registry that challenges, a helper that never answers is
    /// stopped at its bound — the helper timeout, or the run's `--max-time`
    /// when that comes first — the error naming it; its process group (it
    /// and the child it started) is gone after.
    @Test(arguments: [("helper timeout", Duration.seconds(1), nil), ("--max-time", .seconds(30), Duration.seconds(3))])
    func hangingHelperStoppedAndKilled(_ label: String, helperTimeout: Duration, maxTime: Duration?) async throws {
        try await SessionBed.run(auth: .bearer(users: ["alice": "s3cret"])) { bed in
            let helper = try SlowHelper(in: bed.path("helper"))
            let credentials = try helper.credentials(bed)
            let target = try bed.target()
            let start = ContinuousClock.now
            let error = await thrownError {
                try await bed.session({ options in
                    options.credentials = credentials
                    options.client.credentialHelperTimeout = helperTimeout
                    options.maxTime = maxTime
                }) { session in
                    try await session.image(target, platforms: .host, format: .docker, to: bed.path("image.tar"))
                }
            }
            let elapsed = ContinuousClock.now - start
            let message = (error as? any UserFacingError)?.message ?? String(describing: error)
            // The bound, with room for a loaded machine; the helper would sleep 120 s.
            #expect(elapsed < (maxTime ?? helperTimeout) + .seconds(10), "\(label)")
            #expect(!FileManager.default.fileExists(atPath: bed.path("image.tar")))
            let pids = helper.pids
            // The helper runs once the registry has challenged; its bound is the helper timeout, or what is left of the run.
            if maxTime == nil { #expect(pids.count == 2, "the helper ran and wrote its pids and its child's") }
            if maxTime == nil {
                #expect(message.contains("docker-credential-slow"), "\(message)")
                #expect(message.contains("did not answer within 1 s"), "\(message)")
                for pid in pids {
                    #expect(await Self.ended(pid), "process \(pid) of the helper's group is still running")
                }
            } else {
                // The helper is stopped half a second before the run's limit and named with it; on a
                // machine loaded enough for the run's limit to come first, the limit alone is said.
                let named = message.contains("docker-credential-slow did not answer in the") && message.contains("s the run's time limit left it")
                #expect(named || message.contains("time limit of 3 s"), "\(message)")
                // On a machine loaded enough, the limit may come before the helper has even started: then there is nothing to kill.
                for pid in pids {
                    #expect(await Self.ended(pid), "process \(pid) of the helper's group is still running")
                }
            }
            // A helper process still running is this test's own: not left behind.
            for pid in pids where Self.isHelper(pid) { kill(pid, SIGKILL) }
        }
    }

    /// Whether `pid` is still one of the slow helper's processes (the script or its `sleep`).
    static func isHelper(_ pid: pid_t) -> Bool {
        guard let command = contents("/proc/\(pid)/cmdline") else { return false }
        let text = String(decoding: command, as: UTF8.self)
        return text.contains("docker-credential-slow") || text.hasPrefix("sleep\u{0}120")
    }

    /// Whether `pid` is gone (or a zombie waiting for its reaper) within a few seconds.
    static func ended(_ pid: pid_t) async -> Bool {
        for _ in 0..<50 {
            if kill(pid, 0) != 0, errno == ESRCH { return true }
            // A killed child of a parent that died is reparented; until reaped it is a zombie, which runs nothing.
            if let stat = contents("/proc/\(pid)/stat"), String(decoding: stat, as: UTF8.self).split(separator: ")").last?.split(separator: " ").first == "Z" {
                return true
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
