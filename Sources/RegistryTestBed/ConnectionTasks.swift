import Synchronization

/// The tasks serving a test server's connections. A listening async
/// channel buffers the connections it accepts until they are read out, and
/// drops them when its loop is cancelled or the listener closes — a
/// connection dropped before `executeThenClose` ran traps in NIO. So each
/// connection is wrapped in the child channel's initializer and handed at
/// once to a task of its own here, which always runs: with the server, or
/// with nil (to close it) once ``stop()`` was called. The tasks run on
/// ``ServerExecutor``, so a busy concurrency pool does not slow a server.
final class ConnectionTasks<Server: AnyObject & Sendable>: Sendable {
    private struct State: ~Copyable {
        var server: Server?
        var stopped = false
        var next = 0
        var tasks: [Int: Task<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    init() {}

    /// The server that serves connections from now on.
    func attach(_ server: Server) {
        state.withLock { $0.server = server }
    }

    /// Runs `serve` for a new connection, with the server, or with nil (close it) once stopped.
    func spawn(_ serve: @escaping @Sendable (Server?) async -> Void) {
        state.withLock { state in
            let server = state.stopped ? nil : state.server
            let id = state.next
            state.next += 1
            state.tasks[id] = Task(executorPreference: ServerExecutor.shared) {
                await serve(server)
                self.state.withLock { _ = $0.tasks.removeValue(forKey: id) }
            }
        }
    }

    /// Cancels every task and lets go of the server; a connection that
    /// arrives from now on is closed at once. Returns the tasks cancelled,
    /// for a caller that waits for them to end.
    @discardableResult
    func stop() -> [Task<Void, Never>] {
        let tasks = state.withLock { state in
            state.stopped = true
            state.server = nil
            defer { state.tasks.removeAll() }
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
        return tasks
    }
}
