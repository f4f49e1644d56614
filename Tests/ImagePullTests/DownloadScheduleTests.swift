import ImagePull
import Testing

@Suite("Download schedule")
struct DownloadScheduleTests {
    static let mib: Int64 = 1 << 20

    /// Starts everything it may, then finishes blobs in the given order,
    /// recording each wave of starts.
    static func waves(sizes: [Int64], large: Int, all: Int, finishing order: [Int]) -> [[Int]] {
        var schedule = DownloadSchedule(sizes: sizes, largeAtOnce: large, atOnce: all)
        var waves: [[Int]] = []
        func drain() -> [Int] {
            var started: [Int] = []
            while let index = schedule.next() { started.append(index) }
            return started
        }
        waves.append(drain())
        for index in order {
            schedule.finished(index)
            waves.append(drain())
        }
        return waves
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var sizes: [Int64]
        var large: Int
        var all: Int
        var finishing: [Int]
        var waves: [[Int]]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "large blobs, largest first, 2 at once", sizes: [2 * mib, 40 * mib, 100 * mib, 40 * mib], large: 2, all: 4,
             finishing: [2, 1, 3, 0], waves: [[2, 1], [3], [0], [], []]),
        Case(name: "small blobs fill every place", sizes: Array(repeating: 100_000, count: 6), large: 2, all: 4,
             finishing: [0, 1, 2, 3, 4, 5], waves: [[0, 1, 2, 3], [4], [5], [], [], [], []]),
        Case(name: "small blobs beside large ones", sizes: [1_000, 50 * mib, 500, 30 * mib, 10 * mib, 700], large: 2, all: 4,
             finishing: [0, 1, 2, 4, 3, 5], waves: [[1, 3, 0, 2], [5], [4], [], [], [], []]),
        Case(name: "a finished small blob frees a place for a large one", sizes: [100, 200, 5 * mib, 6 * mib], large: 2, all: 2,
             finishing: [3, 2, 0, 1], waves: [[3, 2], [0], [1], [], []]),
        Case(name: "--jobs 1: strictly one at a time", sizes: [mib, mib - 1, 3 * mib, 1], large: 1, all: 1,
             finishing: [2, 0, 1, 3], waves: [[2], [0], [1], [3], []]),
    ]

    @Test(arguments: cases)
    func schedule(_ c: Case) {
        #expect(Self.waves(sizes: c.sizes, large: c.large, all: c.all, finishing: c.finishing) == c.waves)
    }

    @Test func everyBlobStartsExactlyOnce() {
        let sizes: [Int64] = (0..<50).map { Int64(($0 * 7919) % 13) * Self.mib / 4 }
        var schedule = DownloadSchedule(sizes: sizes, largeAtOnce: 3, atOnce: 6)
        var started: [Int] = []
        var running: [Int] = []
        while started.count < sizes.count {
            while let index = schedule.next() { started.append(index); running.append(index) }
            #expect(running.filter { sizes[$0] >= DownloadSchedule.smallBlobSize }.count <= 3)
            #expect(running.count <= 6)
            if let first = running.first { running.removeFirst(); schedule.finished(first) }
        }
        #expect(started.sorted() == Array(0..<50))
        #expect(schedule.next() == nil)
    }
}
