import Foundation
import Synchronization

/// How progress is shown on stderr.
enum ProgressMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// A live line on a terminal, nothing otherwise.
    case auto
    /// A line per finished blob and a summary, terminal or not.
    case plain
    /// Nothing.
    case none
}

import ArgumentParser

/// Counts bytes of a transfer and reports them on stderr.
final class ProgressReporter: Sendable {
    private struct State {
        var total: Int64
        var done: Int64 = 0
        var finishedBlobs = 0
        var lastDraw = ContinuousClock.now
        var drewLine = false
    }

    private let state: Mutex<State>
    private let live: Bool
    private let plain: Bool
    private let started = ContinuousClock.now
    private let blobCount: Int

    init(mode: ProgressMode, quiet: Bool, totalBytes: Int64, blobCount: Int) {
        let terminal = isatty(STDERR_FILENO) == 1
        live = !quiet && mode == .auto && terminal
        plain = !quiet && mode == .plain
        self.blobCount = blobCount
        state = Mutex(State(total: totalBytes))
    }

    /// Adds `bytes` (negative when a transfer restarts).
    func advance(_ bytes: Int64) {
        guard live else { return }
        let line: String? = state.withLock { state in
            state.done += bytes
            let now = ContinuousClock.now
            guard now - state.lastDraw > .milliseconds(100) else { return nil }
            state.lastDraw = now
            state.drewLine = true
            return Self.line(done: state.done, total: state.total, blobs: state.finishedBlobs, of: blobCount, elapsed: now - started)
        }
        if let line { Self.emit("\r\u{1B}[2K" + line) }
    }

    /// Records a finished blob.
    func finished(_ name: String, size: Int64) {
        state.withLock { $0.finishedBlobs += 1 }
        if plain { Self.emit("fetched \(name) \(Self.formatBytes(size))\n") }
    }

    /// Prints the summary: bytes, time, throughput.
    func complete() {
        guard live || plain else { return }
        let elapsed = ContinuousClock.now - started
        let (total, drew) = state.withLock { ($0.total, $0.drewLine) }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(total) / seconds : 0
        let summary = "\(blobCount) blobs, \(Self.formatBytes(total)) in \(String(format: "%.1f", seconds)) s (\(Self.formatBytes(Int64(rate)))/s)\n"
        Self.emit((drew ? "\r\u{1B}[2K" : "") + summary)
    }

    private static func line(done: Int64, total: Int64, blobs: Int, of count: Int, elapsed: Duration) -> String {
        let seconds = max(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, 0.001)
        let rate = Double(done) / seconds
        let eta = rate > 0 && total > done ? Int(Double(total - done) / rate) : 0
        return "\(blobs)/\(count) blobs  \(formatBytes(done)) / \(formatBytes(total))  \(formatBytes(Int64(rate)))/s  ETA \(eta)s"
    }

    static func formatBytes(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    private static func emit(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
