import Synchronization

/// What something told a test (lines, notices), kept in order for assertions.
public final class Recorded<Element: Sendable>: Sendable {
    private let elements = Mutex<[Element]>([])

    public init() {}

    public func append(_ element: Element) {
        elements.withLock { $0.append(element) }
    }

    /// Everything appended so far, oldest first.
    public var all: [Element] { elements.withLock { $0 } }
}

/// The error `body` throws, or nil when it throws none.
public func thrownError(_ body: () async throws -> some Any) async -> (any Error)? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error
    }
}
