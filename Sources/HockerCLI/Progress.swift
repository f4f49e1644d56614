import ArgumentParser
import Foundation
import ImagePull
import ImageSpec
import RegistryClient
import Synchronization

/// How progress is shown on stderr.
enum ProgressMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Live lines on a terminal, nothing otherwise.
    case auto
    /// A line per finished blob and a summary, terminal or not.
    case plain
    /// Nothing.
    case none
}

/// Shows a multi-blob transfer on stderr: on a terminal one live line per
/// blob in flight (short digest, bytes, rate, ETA) and a total line; with
/// `plain` a line per finished blob; then a summary of bytes, time and
/// throughput. Safe to call from concurrent downloads.
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
        var drawnLines = 0
    }

    private let state = Mutex(State())
    private let live: Bool
    private let plain: Bool
    private let started = ContinuousClock.now

    init(mode: ProgressMode, quiet: Bool) {
        live = !quiet && mode == .auto && isatty(STDERR_FILENO) == 1
        plain = !quiet && mode == .plain
    }

    func transferStarting(_ blobs: [Descriptor]) {
        state.withLock { state in
            state.blobCount = blobs.count
            state.totalBytes = blobs.reduce(0) { $0 + $1.size }
        }
    }

    func blobStarted(_ blob: Descriptor) {
        guard live else { return }
        state.withLock { $0.inFlight.append((blob.digest.short, Blob(size: blob.size))) }
        redraw(force: true)
    }

    func blobAdvanced(_ blob: Descriptor, by bytes: Int64) {
        let name = blob.digest.short
        guard live else { return }
        state.withLock { state in
            state.done += bytes
            if let index = state.inFlight.firstIndex(where: { $0.name == name }) { state.inFlight[index].blob.done += bytes }
        }
        redraw(force: false)
    }

    func blobFinished(_ blob: Descriptor, from source: BlobSource) {
        let name = blob.digest.short
        let size = blob.size
        let fromCache = source == .cache
        state.withLock { state in
            state.finished += 1
            if fromCache {
                state.fromCache += 1
                state.cachedBytes += size
            }
            if let index = state.inFlight.firstIndex(where: { $0.name == name }) {
                state.done += size - state.inFlight[index].blob.done
                state.inFlight.remove(at: index)
            }
        }
        if plain { Self.emit("\(fromCache ? "cached " : "fetched") \(name)  \(Self.formatBytes(size))\n") }
        redraw(force: true)
    }

    /// Clears the live lines and prints the summary.
    func transferCompleted() {
        guard live || plain else { return }
        let seconds = Self.seconds(ContinuousClock.now - started)
        let (fromCache, cachedBytes, drawn, blobCount, totalBytes) = state.withLock {
            ($0.fromCache, $0.cachedBytes, $0.drawnLines, $0.blobCount, $0.totalBytes)
        }
        let downloaded = totalBytes - cachedBytes
        var summary = "\(blobCount) blobs, \(Self.formatBytes(totalBytes)) in \(String(format: "%.2f", seconds)) s"
        summary += " (\(Self.formatBytes(Int64(Double(downloaded) / max(seconds, 0.001))))/s downloaded)"
        if fromCache > 0 { summary += "; \(fromCache) from the cache (\(Self.formatBytes(cachedBytes)))" }
        Self.emit(Self.clear(lines: drawn) + summary + "\n")
    }

    private func redraw(force: Bool) {
        guard live else { return }
        let text: String? = state.withLock { state in
            let now = ContinuousClock.now
            guard force || now - state.lastDraw >= .milliseconds(100) else { return nil }
            state.lastDraw = now
            var lines = state.inFlight.map { entry in
                Self.line(entry.name, done: entry.blob.done, size: entry.blob.size, elapsed: now - entry.blob.started)
            }
            lines.append(Self.line("total \(state.finished)/\(state.blobCount)", done: state.done, size: state.totalBytes, elapsed: now - started))
            let output = Self.clear(lines: state.drawnLines) + lines.joined(separator: "\n") + "\n"
            state.drawnLines = lines.count
            return output
        }
        if let text { Self.emit(text) }
    }

    /// Moves the cursor up over `lines` lines and clears them.
    private static func clear(lines: Int) -> String {
        lines == 0 ? "" : "\u{1B}[\(lines)A\u{1B}[J"
    }

    private static func line(_ name: String, done: Int64, size: Int64, elapsed: Duration) -> String {
        let seconds = max(self.seconds(elapsed), 0.001)
        let rate = Double(done) / seconds
        let eta = rate > 0 && size > done ? "ETA \(Int((Double(size - done) / rate).rounded(.up)))s" : ""
        let padded = name.padding(toLength: max(name.count, 14), withPad: " ", startingAt: 0)
        return "\(padded)  \(formatBytes(done)) / \(formatBytes(size))  \(formatBytes(Int64(rate)))/s  \(eta)"
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Bytes in SI units: `512 B`, `40.0 MB`.
    static func formatBytes(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }

    private static func emit(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
