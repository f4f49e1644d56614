import DaemonClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImagePull
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Shows loads on stderr: on a terminal one live line per archive being
/// sent (bytes sent, and what the daemon says it is doing); with `plain`
/// a line when an archive starts going and for each layer the daemon has
/// loaded; then, unless quiet or `none`, a summary.
final class LoadDisplay: LoadObserver {
    private struct Sending {
        var name: String
        var total: Int64?
        var sent: Int64 = 0
        var daemonSays = ""
    }

    private struct State {
        var sending: [Sending] = []
        var lastDraw = ContinuousClock.now - .seconds(1)
        /// Layer IDs reported done in plain mode.
        var reported: Set<String> = []
    }

    private let state = Mutex(State())
    private let console: Console
    private let live: Bool
    private let plain: Bool
    private let summary: Bool
    private let started = ContinuousClock.now

    init(mode: ProgressMode, quiet: Bool, console: Console, isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.console = console
        live = !quiet && mode == .auto && isTerminal
        plain = !quiet && mode == .plain
        summary = !quiet && mode != .none
    }

    func sending(_ source: String, bytes: Int64?) {
        state.withLock { $0.sending.append(Sending(name: source, total: bytes)) }
        if plain { console.note("\(source): sending\(bytes.map { " " + ProgressReporter.formatBytes($0) } ?? "") to the daemon") }
        redraw(force: true)
    }

    func progress(_ source: String, _ event: LoadEvent) {
        let note: String? = state.withLock { state in
            guard let index = state.sending.firstIndex(where: { $0.name == source }) else { return nil }
            switch event {
            case .sent(let bytes):
                state.sending[index].sent += Int64(bytes)
                return nil
            case .message(let message):
                guard let status = message.status else { return nil }
                var text = status + (message.id.map { " " + $0 } ?? "")
                if let detail = message.progressDetail, let current = detail.current, let total = detail.total, total > 0 {
                    text += " \(ProgressReporter.formatBytes(current))/\(ProgressReporter.formatBytes(total))"
                    if plain, current >= total, let id = message.id, state.reported.insert(source + id).inserted {
                        return "\(source): \(status) \(id) done (\(ProgressReporter.formatBytes(total)))"
                    }
                }
                state.sending[index].daemonSays = text
                return nil
            }
        }
        if let note { console.note(note) }
        redraw(force: false)
    }

    func finished(_ report: LoadReport) {
        state.withLock { $0.sending.removeAll { $0.name == report.source } }
        redraw(force: true)
    }

    /// Clears the live lines and prints what the run did.
    func summarize(_ reports: [LoadReport]) {
        if live { console.show([]) }
        guard summary else { return }
        var loaded = 0, tagged = 0, present = 0, failed = 0
        var sent: Int64 = 0
        for report in reports {
            sent += report.bytesSent
            switch report.result {
            case .failure: failed += 1
            case .success(let outcomes):
                for outcome in outcomes {
                    switch outcome {
                    case .loaded: loaded += 1
                    case .tagged: tagged += 1
                    case .present: present += 1
                    }
                }
            }
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var parts = ["\(loaded) loaded (\(ProgressReporter.formatBytes(sent)) sent)"]
        if tagged > 0 { parts.append("\(tagged) already there, tagged") }
        if present > 0 { parts.append("\(present) already there") }
        if failed > 0 { parts.append("\(failed) failed") }
        let count = reports.count
        console.note("\(count) archive\(count == 1 ? "" : "s"): \(parts.joined(separator: ", ")) in \(Double(Int(seconds * 100)) / 100) s")
    }

    private func redraw(force: Bool) {
        guard live else { return }
        let width = TerminalSize.columns
        let lines: [String]? = state.withLock { state in
            let now = ContinuousClock.now
            guard force || now - state.lastDraw >= .milliseconds(100) else { return nil }
            state.lastDraw = now
            return state.sending.map { entry in
                let total = entry.total.map { " / " + ProgressReporter.formatBytes($0) } ?? ""
                let line = "\(entry.name)  \(ProgressReporter.formatBytes(entry.sent))\(total) sent  \(entry.daemonSays)"
                return String(line.prefix(max(width - 1, 10)))
            }
        }
        if let lines { console.show(lines) }
    }
}

/// What a load's reports say on stdout, a line per name: docker's own
/// `Loaded image:` line for what was sent; `Tagged image:` and
/// `Already loaded:` for what the daemon had.
enum LoadOutput {
    static func lines(_ reports: [LoadReport]) -> [String] {
        var lines: [String] = []
        for report in reports {
            guard case .success(let outcomes) = report.result else { continue }
            for outcome in outcomes {
                switch outcome {
                case .loaded(let names):
                    lines += names.map { $0.hasPrefix("sha256:") ? "Loaded image ID: \($0)" : "Loaded image: \($0)" }
                case .tagged(let id, let names):
                    lines += names.map { "Tagged image: \($0) (\(id.algorithm.rawValue):\(id.short) was already loaded)" }
                case .present(let id, let names):
                    lines += names.isEmpty ? ["Already loaded: \(id)"] : names.map { "Already loaded: \($0) (\(id.algorithm.rawValue):\(id.short))" }
                }
            }
        }
        return lines
    }
}
