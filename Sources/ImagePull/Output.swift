import Foundation
import ImageArchive
import ImageReference
import Synchronization
import SystemPackage

/// An output that cannot be written, naming the path the user gave.
public enum OutputError: UserFacingError, Equatable {
    case cannotWrite(path: String, detail: String)

    public var message: String {
        switch self {
        case .cannotWrite(let path, let detail): "cannot write \(path): \(detail)"
        }
    }
}

/// Paths of temporary files and directories a run has not finished with, so
/// that a SIGINT or SIGTERM can remove them before the process exits.
public final class TemporaryPaths: Sendable {
    private let paths = Mutex<Set<String>>([])

    public init() {}

    public func insert(_ path: String) { paths.withLock { _ = $0.insert(path) } }
    public func remove(_ path: String) { paths.withLock { _ = $0.remove(path) } }

    /// Removes every registered path; called from the signal handler.
    public func removeAll() {
        let all = paths.withLock { current in
            defer { current.removeAll() }
            return current
        }
        for path in all { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// A file written under a temporary name beside its target and renamed onto
/// it only when complete, so the target is either untouched or whole.
public final class OutputFile {
    /// The path the user named.
    public let target: String
    /// The temporary path beside it.
    public let temporary: String
    public let descriptor: FileDescriptor
    private let registry: TemporaryPaths
    private var done = false

    public init(target: String, registry: TemporaryPaths) throws(OutputError) {
        self.target = target
        self.registry = registry
        let url = URL(fileURLWithPath: target)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .cannotWrite(path: target, detail: "it is a directory")
        }
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .cannotWrite(path: target, detail: "the directory \(directory) does not exist")
        }
        temporary = temporaryPath(beside: target)
        do {
            descriptor = try FileDescriptor.open(
                temporary, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw .cannotWrite(path: target, detail: "\(error)")
        }
        registry.insert(temporary)
    }

    /// Closes the file and renames it onto the target.
    public func commit() throws(OutputError) {
        do {
            try descriptor.close()
        } catch {
            discardFiles()
            throw .cannotWrite(path: target, detail: "\(error)")
        }
        guard rename(temporary, target) == 0 else {
            let detail = String(cString: strerror(errno))
            discardFiles()
            throw .cannotWrite(path: target, detail: detail)
        }
        registry.remove(temporary)
        done = true
    }

    /// Closes and deletes the temporary file, leaving the target untouched.
    public func discard() {
        try? descriptor.close()
        discardFiles()
        done = true
    }

    private func discardFiles() {
        unlink(temporary)
        registry.remove(temporary)
    }

    deinit {
        if !done {
            try? descriptor.close()
            discardFiles()
        }
    }
}

/// A directory built under a temporary name beside its target and renamed
/// onto it when complete (an OCI layout).
public final class OutputDirectory {
    public let target: String
    public let temporary: String
    private let registry: TemporaryPaths
    private var done = false

    public init(target: String, registry: TemporaryPaths) throws(OutputError) {
        self.target = target
        self.registry = registry
        if FileManager.default.fileExists(atPath: target) {
            throw .cannotWrite(path: target, detail: "it already exists; an OCI layout is written to a new directory")
        }
        temporary = temporaryPath(beside: target)
        do {
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        } catch {
            throw .cannotWrite(path: target, detail: "cannot create \(temporary): \(error.localizedDescription)")
        }
        registry.insert(temporary)
    }

    public func commit() throws(OutputError) {
        guard rename(temporary, target) == 0 else {
            let detail = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            registry.remove(temporary)
            done = true
            throw .cannotWrite(path: target, detail: detail)
        }
        registry.remove(temporary)
        done = true
    }

    deinit {
        if !done {
            try? FileManager.default.removeItem(atPath: temporary)
            registry.remove(temporary)
        }
    }
}

/// A hidden, unique name in the target's directory: the rename onto the
/// target stays within one file system, so it is atomic.
private func temporaryPath(beside target: String) -> String {
    let url = URL(fileURLWithPath: target)
    return "\(url.deletingLastPathComponent().path)/.\(url.lastPathComponent).hocker-\(UInt32.random(in: .min ... .max))"
}

/// Writes bytes to standard output, all of them.
public enum StandardOutput {
    public static func write(_ bytes: some Sequence<UInt8>) throws {
        try Array(bytes).withUnsafeBytes { try FileChunks.write($0, to: .standardOutput, at: nil) }
    }

    /// Copies a file to standard output in 1 MiB pieces.
    public static func copy(from file: FileDescriptor) throws {
        try FileChunks.forEach(in: file) { piece, _ in
            try FileChunks.write(piece, to: .standardOutput, at: nil)
        }
    }
}
