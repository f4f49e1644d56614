#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImagePull
import Synchronization

/// How the process answers SIGINT, SIGTERM and SIGHUP: it removes the run's
/// temporary outputs and exits with 128 + the signal, within moments,
/// whatever the run is doing — reading a body, waiting for headers or a
/// token, sleeping before a retry. A second signal while that happens exits
/// at once, but for SIGHUP, which a closing terminal sends twice. SIGWINCH tells the progress display the terminal changed size.
///
/// The handler itself only counts the signal and writes its number to a
/// pipe (both async-signal-safe); a thread of its own reads the pipe and
/// does the rest. This works however the process was started: a shell
/// leaves these signals unblocked, `Foundation.Process` and some service
/// managers start children with them blocked, so they are unblocked here.
enum Interrupts {
    /// The signals that end the run.
    static let endingSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// The pipe from the handler to the watching thread.
    private static let pipeEnds: (read: Int32, write: Int32) = {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return (-1, -1) }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ends[1], F_SETFL, O_NONBLOCK)
        return (ends[0], ends[1])
    }()

    /// Ending signals received so far.
    private static let received = Atomic<Int>(0)

    /// Whether the run is ending on a signal: the process ends from the
    /// signal's thread, with 128 + the signal, once it has cleaned up; what
    /// fails from here on is the interruption's doing (a credential helper
    /// it killed), not worth a word.
    static var isEnding: Bool { received.load(ordering: .relaxed) > 0 }

    /// Installs the handlers. Call once, on the main thread, before any
    /// work starts.
    ///
    /// - Parameters:
    ///   - cleanup: removes the run's temporary outputs.
    ///   - resize: called when the terminal changes size.
    static func install(cleanup: @escaping @Sendable () -> Void, resize: @escaping @Sendable () -> Void) {
        let ends = pipeEnds
        guard ends.read >= 0 else { return }
        DedicatedThread.start {
            var byte: UInt8 = 0
            while true {
                let count = read(ends.read, &byte, 1)
                if count < 0 && errno == EINTR { continue }
                guard count == 1 else { return }
                let signal = Int32(byte)
                if signal == SIGWINCH {
                    resize()
                    continue
                }
                cleanup()
                _exit(128 + signal)
            }
        }

        let handler: @convention(c) (Int32) -> Void = { signal in
            // Asked twice: no more cleaning up. A repeated SIGHUP is no second request:
            // a terminal that closes sends it twice (the shell's, then the kernel's hangup).
            if signal != SIGWINCH, Interrupts.received.add(1, ordering: .relaxed).newValue > 1, signal != SIGHUP {
                _exit(128 + signal)
            }
            var byte = UInt8(truncatingIfNeeded: signal)
            _ = write(Interrupts.pipeEnds.write, &byte, 1)
        }
        // A write to a pipe whose reader is gone (a credential helper that is
        // not installed exits before reading its stdin; `| head`) fails
        // with EPIPE, which the writer reports, instead of killing the
        // process with nothing said.
        _ = signal(SIGPIPE, SIG_IGN)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        for number in endingSignals + [SIGWINCH] {
            let previous = signal(number, handler)
            // Ignored by whoever started us (nohup; a background job of a shell without
            // job control ignores SIGINT): stay ignored, as every program should.
            if let previous, unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { _ = signal(number, SIG_IGN) }
            sigaddset(&unblocked, number)
        }
        _ = pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
    }
}
