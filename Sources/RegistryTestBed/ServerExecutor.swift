import Dispatch
import Synchronization

/// Where the test bed's servers run their connections: threads of their
/// own, not the concurrency pool.
///
/// Every test target runs in one process, and the pool has a thread per
/// core. Swift Testing queues every test case at once, so on 2 cores a
/// server's next step waited behind seconds of other tests' work (15 s was
/// measured), and a mirror that answers in milliseconds looked dead to a
/// hocker bounded at 10 s. Serial queues are overcommitting: each gets a
/// thread of its own when it has work, whatever the pool is doing.
final class ServerExecutor: TaskExecutor {
    static let shared = ServerExecutor(width: 4)

    private let queues: [DispatchQueue]
    private let next = Mutex(0)

    private init(width: Int) {
        queues = (0..<width).map { DispatchQueue(label: "hocker.test-bed.server-\($0)") }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let queue = next.withLock { index in
            defer { index = (index + 1) % queues.count }
            return queues[index]
        }
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
