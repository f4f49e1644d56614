import Foundation
import RegistryClient
import Synchronization
import SystemPackage

/// Paths of temporary files and directories a run has not finished with, so
/// that a SIGINT or SIGTERM can remove them before the process exits.
final class TemporaryPaths: Sendable {
    private let paths = Mutex<Set<String>>([])

    func insert(_ path: String) { paths.withLock { _ = $0.insert(path) } }
    func remove(_ path: String) { paths.withLock { _ = $0.remove(path) } }

    /// Removes every registered path; called from the signal handler.
    func removeAll() {
        let all = paths.withLock { current in
            defer { current.removeAll() }
            return current
        }
        for path in all { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// A file written under a temporary name beside its target and renamed onto
/// it only when complete, so the target is either untouched or whole.
final class OutputFile {
    /// The path the user named.
    let target: String
    /// The temporary path beside it.
    let temporary: String
    let descriptor: FileDescriptor
    private let registry: TemporaryPaths
    private var done = false

    init(target: String, registry: TemporaryPaths) throws(CommandError) {
        self.target = target
        self.registry = registry
        let url = URL(fileURLWithPath: target)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .output(path: target, detail: "it is a directory")
        }
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .output(path: target, detail: "the directory \(directory) does not exist")
        }
        temporary = temporaryPath(beside: target)
        do {
            descriptor = try FileDescriptor.open(
                temporary, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw .output(path: target, detail: "\(error)")
        }
        registry.insert(temporary)
    }

    /// Closes the file and renames it onto the target.
    func commit() throws(CommandError) {
        do {
            try descriptor.close()
        } catch {
            discardFiles()
            throw .output(path: target, detail: "\(error)")
        }
        guard rename(temporary, target) == 0 else {
            let detail = String(cString: strerror(errno))
            discardFiles()
            throw .output(path: target, detail: detail)
        }
        registry.remove(temporary)
        done = true
    }

    /// Closes and deletes the temporary file, leaving the target untouched.
    func discard() {
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
final class OutputDirectory {
    let target: String
    let temporary: String
    private let registry: TemporaryPaths
    private var done = false

    init(target: String, registry: TemporaryPaths) throws(CommandError) {
        self.target = target
        self.registry = registry
        if FileManager.default.fileExists(atPath: target) {
            throw .output(path: target, detail: "it already exists; an OCI layout is written to a new directory")
        }
        temporary = temporaryPath(beside: target)
        do {
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        } catch {
            throw .output(path: target, detail: "cannot create \(temporary): \(error.localizedDescription)")
        }
        registry.insert(temporary)
    }

    func commit() throws(CommandError) {
        guard rename(temporary, target) == 0 else {
            let detail = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            registry.remove(temporary)
            done = true
            throw .output(path: target, detail: detail)
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
enum StandardOutput {
    static func write(_ bytes: some Sequence<UInt8>) throws {
        let array = Array(bytes)
        _ = try array.withUnsafeBytes { try FileDescriptor.standardOutput.writeAll($0) }
    }

    /// Copies a file to standard output in 1 MiB pieces.
    static func copy(from file: FileDescriptor) throws {
        try FileChunks.forEach(in: file) { piece, _ in
            _ = try FileDescriptor.standardOutput.writeAll(piece)
        }
    }
}
