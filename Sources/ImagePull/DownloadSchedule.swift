/// The order and concurrency of an image's blob downloads.
///
/// Large blobs (1 MiB or more) move bytes: a few at once keep the link and
/// the cores busy, and starting the largest first keeps the longest transfer
/// from starting last. Small blobs mostly wait on the registry's answer, so
/// more of them may run beside the large ones.
public struct DownloadSchedule: Sendable {
    /// Blobs below this size (bytes) are small (1 MiB).
    public static let smallBlobSize: Int64 = 1 << 20

    /// Large blobs at once.
    public let largeAtOnce: Int
    /// Blobs of any size at once.
    public let atOnce: Int
    private let sizes: [Int64]
    private var large: ArraySlice<Int>
    private var small: ArraySlice<Int>
    private var runningLarge = 0
    private var running = 0

    /// - Parameters:
    ///   - sizes: the blobs' sizes in bytes; blobs are named by their index here.
    ///   - largeAtOnce: large blobs at once (at least 1).
    ///   - atOnce: blobs at once in all (at least `largeAtOnce`).
    public init(sizes: [Int64], largeAtOnce: Int, atOnce: Int) {
        self.sizes = sizes
        self.largeAtOnce = max(1, largeAtOnce)
        self.atOnce = max(self.largeAtOnce, atOnce)
        // Largest first; equal sizes in the manifest's order.
        large = sizes.indices.filter { sizes[$0] >= Self.smallBlobSize }
            .sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : $0 < $1 }[...]
        small = sizes.indices.filter { sizes[$0] < Self.smallBlobSize }[...]
    }

    /// The next blob to start now, marked running; nil when it must wait for
    /// one to finish, or nothing is left.
    public mutating func next() -> Int? {
        guard running < atOnce else { return nil }
        if runningLarge < largeAtOnce, let index = large.popFirst() {
            runningLarge += 1
            running += 1
            return index
        }
        if let index = small.popFirst() {
            running += 1
            return index
        }
        return nil
    }

    /// Records that blob `index` (started by `next()`) is done.
    public mutating func finished(_ index: Int) {
        running -= 1
        if sizes[index] >= Self.smallBlobSize { runningLarge -= 1 }
    }
}
