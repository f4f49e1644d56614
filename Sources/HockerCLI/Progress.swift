import ArgumentParser
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
import ImageReference
import ImageSpec
import RegistryClient
import Synchronization
import SystemPackage

/// How progress is shown on stderr.
enum ProgressMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Live lines on a terminal; elsewhere only the summary line.
    case auto
    /// A line per finished blob and the summary, terminal or not.
    case plain
    /// Nothing.
    case none
}

/// `--progress`, for the commands that download blobs.
struct ProgressOptions: ParsableArguments {
    @Option(help: "Progress on stderr: auto (live lines on a terminal, else a summary line), plain (a line per blob and the summary) or none.")
    var progress: ProgressMode = .auto

    /// The display these options and `--quiet` ask for. When the command's
    /// data goes to a terminal (`dataTo` nil or `-`, standard output a
    /// terminal), `auto` shows nothing: live lines would be drawn over the
    /// data, and a summary would run on from its last line.
    func reporter(quiet: Bool, dataTo out: String?, context: CommandContext) -> ProgressReporter {
        let dataOnTerminal = (out == nil || out == "-") && context.standardOutputIsTerminal
        return ProgressReporter(mode: dataOnTerminal && progress == .auto ? .none : progress, quiet: quiet, console: context.console)
    }
}

/// The width of the terminal on stderr, read again when it changes size.
enum TerminalSize {
    private static let cachedColumns = Atomic<Int>(0)

    /// The columns of the terminal on stderr (80 when it does not say).
    static var columns: Int {
        let cached = cachedColumns.load(ordering: .relaxed)
        return cached > 0 ? cached : changed()
    }

    /// Reads the size again; called on SIGWINCH.
    @discardableResult
    static func changed() -> Int {
        var size = winsize()
        let columns = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 80
        cachedColumns.store(columns, ordering: .relaxed)
        return columns
    }
}

/// Standard error as a person at a terminal reads it: notes (a retry, a
/// warning) print above the live progress lines, which are then drawn again
/// below them, so neither overwrites the other.
final class Console: Sendable {
    private let liveLines = Mutex<[String]>([])

    /// Prints a line, keeping any live lines below it. What a registry put
    /// in it is escaped (``TerminalText``).
    func note(_ line: String) {
        let line = TerminalText.message(line)
        liveLines.withLock { lines in
            Self.emit(Self.clear(lines: lines.count) + line + "\n" + lines.map { $0 + "\n" }.joined())
        }
    }

    /// Replaces the live lines with `lines` (none to clear them), each kept to one line.
    func show(_ lines: [String]) {
        let lines = lines.map(TerminalText.field)
        liveLines.withLock { current in
            Self.emit(Self.clear(lines: current.count) + lines.map { $0 + "\n" }.joined())
            current = lines
        }
    }

    /// Moves the cursor up over `lines` lines and clears to the end of the screen.
    private static func clear(lines: Int) -> String {
        lines == 0 ? "" : "\u{1B}[\(lines)A\u{1B}[J"
    }

    static func emit(_ text: String) {
        guard !text.isEmpty else { return }
        // Nothing can be done when standard error itself cannot be written.
        _ = try? FileDescriptor.standardError.writeAll(text.utf8)
    }
}

/// Shows a transfer on stderr: on a terminal one live line per blob in
/// flight (short digest, bytes, rate, ETA) and a total line, redrawn at
/// most every 100 ms and at least every 250 ms, each cut to the terminal's
/// width; with `plain` a line per finished blob; then, unless quiet or
/// `none`, a summary of bytes, time and throughput — also in a pipe. Safe to
/// call from concurrent downloads.
final class ProgressReporter: TransferObserver {
    private struct Blob {
        var size: Int64
        var done: Int64 = 0
        var started = ContinuousClock.now
    }

    private struct State {
        var inFlight: [(name: String, blob: Blob)] = []
        var blobCount = 0
        var totalBytes: Int64 = 0
        var done: Int64 = 0
        var finished = 0
        var fromCache = 0
        var cachedBytes: Int64 = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
        var started = ContinuousClock.now
        var ticker: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let console: Console
    private let live: Bool
    private let plain: Bool
    private let summary: Bool

    init(mode: ProgressMode, quiet: Bool, console: Console, isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.console = console
        live = !quiet && mode == .auto && isTerminal
        plain = !quiet && mode == .plain
        summary = !quiet && mode != .none
    }

    func transferStarting(_ blobs: [Descriptor]) {
        let ticker: Task<Void, Never>? = live ? Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                self?.redraw(force: true)
            }
        } : nil
        state.withLock { state in
            state.blobCount = blobs.count
            state.totalBytes = blobs.reduce(0) { $0 + $1.size }
            state.started = .now
            state.ticker?.cancel()
            state.ticker = ticker
        }
    }

    func blobStarted(_ blob: Descriptor) {
        state.withLock { $0.inFlight.append((blob.digest.short, Blob(size: blob.size))) }
        redraw(force: true)
    }

    func blobAdvanced(_ blob: Descriptor, by bytes: Int64) {
        let name = blob.digest.short
        state.withLock { state in
            state.done += bytes
            if let index = state.inFlight.firstIndex(where: { $0.name == name }) { state.inFlight[index].blob.done += bytes }
        }
        redraw(force: false)
    }

    func blobFinished(_ blob: Descriptor, from source: BlobSource) {
        let name = blob.digest.short
        let fromCache = source == .cache
        let size = state.withLock { state in
            // A blob of unknown size (hocker layer) counts what arrived.
            let index = state.inFlight.firstIndex(where: { $0.name == name })
            let size = blob.size > 0 ? blob.size : index.map { state.inFlight[$0].blob.done } ?? 0
            state.finished += 1
            if fromCache {
                state.fromCache += 1
                state.cachedBytes += size
            }
            if let index {
                state.done += size - state.inFlight[index].blob.done
                state.inFlight.remove(at: index)
            }
            if blob.size == 0 { state.totalBytes += size }
            return size
        }
        if plain { console.note("\(fromCache ? "cached " : "fetched") \(name)  \(Self.formatBytes(size))") }
        redraw(force: true)
    }

    /// Clears the live lines and prints the summary.
    func transferCompleted() {
        let (fromCache, cachedBytes, blobCount, totalBytes, started) = state.withLock { state in
            state.ticker?.cancel()
            state.ticker = nil
            return (state.fromCache, state.cachedBytes, state.blobCount, state.totalBytes, state.started)
        }
        if live { console.show([]) }
        guard summary else { return }
        let seconds = Self.seconds(ContinuousClock.now - started)
        let downloaded = totalBytes - cachedBytes
        var text = "\(blobCount) blob\(blobCount == 1 ? "" : "s"), \(Self.formatBytes(totalBytes)) in \(Self.hundredths(seconds)) s"
        text += " (\(Self.formatBytes(Int64(Double(downloaded) / max(seconds, 0.001))))/s downloaded)"
        if fromCache > 0 { text += "; \(fromCache) from the cache (\(Self.formatBytes(cachedBytes)))" }
        console.note(text)
    }

    private func redraw(force: Bool) {
        guard live else { return }
        let width = TerminalSize.columns
        let lines: [String]? = state.withLock { state in
            let now = ContinuousClock.now
            guard state.ticker != nil, force || now - state.lastDraw >= .milliseconds(100) else { return nil }
            state.lastDraw = now
            var lines = state.inFlight.map { entry in
                Self.line(entry.name, done: entry.blob.done, size: entry.blob.size, elapsed: now - entry.blob.started)
            }
            lines.append(Self.line("total \(state.finished)/\(state.blobCount)", done: state.done, size: state.totalBytes, elapsed: now - state.started))
            // A line as wide as the terminal would wrap and break the cursor arithmetic.
            return lines.map { String($0.prefix(max(width - 1, 10))) }
        }
        if let lines { console.show(lines) }
    }

    private static func line(_ name: String, done: Int64, size: Int64, elapsed: Duration) -> String {
        let seconds = max(self.seconds(elapsed), 0.001)
        let rate = Double(done) / seconds
        let eta = rate > 0 && size > done ? "ETA \(Int((Double(size - done) / rate).rounded(.up)))s" : ""
        let padded = name + String(repeating: " ", count: max(0, 14 - name.count))
        let total = size > 0 ? " / \(formatBytes(size))" : ""
        return "\(padded)  \(formatBytes(done))\(total)  \(formatBytes(Int64(rate)))/s  \(eta)"
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Bytes in SI units: `512 B`, `40.0 MB`.
    /// `1.25`: seconds to two decimals.
    static func hundredths(_ seconds: Double) -> String {
        let value = Int((seconds * 100).rounded())
        return "\(value / 100).\(value % 100 < 10 ? "0" : "")\(value % 100)"
    }

    static func formatBytes(_ bytes: Int64) -> String {
        ByteCount.format(bytes)
    }
}
