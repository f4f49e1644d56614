#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ImageArchive
import ImageReference
import ImageSpec
import Synchronization
import SystemPackage

/// An output that cannot be written, naming the path the user gave.
public enum OutputError: UserFacingError, Equatable {
    /// Opening, writing or renaming failed.
    case cannotWrite(path: String, detail: String)
    /// The directory the output would go in does not exist.
    case missingDirectory(path: String, directory: String)
    /// A file output names a directory.
    case isDirectory(path: String)
    /// A directory output (an OCI layout) names something that is not a directory.
    case notADirectory(path: String)
    /// The output must be a directory, so it cannot be a stream.
    case needsDirectory(path: String, what: String)
    /// The reader of standard output (or of a FIFO) closed it.
    case readerGone(path: String)
    /// The output would not fit: `needed` bytes (its largest blob `largest`,
    /// of `largestSize`), `available` free where it goes.
    case noSpace(path: String, needed: Int64, available: Int64, directory: String, largest: Digest?, largestSize: Int64)

    /// The error for a failed write to `path`: the reader gone, or what the system said.
    public static func writing(_ path: String, _ error: any Error) -> OutputError {
        let errno: Errno? = (error as? Errno) ?? {
            switch error as? FileCopyError {
            case .write(let errno)?: errno
            default: nil
            }
        }()
        if errno == .brokenPipe { return .readerGone(path: path) }
        return .cannotWrite(path: path, detail: errno.map { "\($0)" } ?? "\(error)")
    }

    public var exitStatus: ExitStatus {
        if case .readerGone = self { return .readerGone }
        return .failure
    }

    public var message: String {
        switch self {
        case .cannotWrite(let path, let detail): "cannot write \(path): \(detail)"
        case .missingDirectory(let path, let directory): "cannot write \(path): the directory \(directory) does not exist"
        case .isDirectory(let path): "cannot write \(path): it is a directory"
        case .notADirectory(let path): "cannot write \(path): it exists and is not a directory"
        case .needsDirectory(let path, let what): "cannot write \(what) to \(path): it is a directory of files, not a stream"
        case .readerGone(let path): "the reader of \(path) went away"
        case .noSpace(let path, let needed, let available, let directory, let largest, let largestSize):
            "cannot write \(path): it takes \(ByteCount.format(needed))\(largest.map { " (the manifest says blob \($0.abbreviated) is \(ByteCount.format(largestSize)))" } ?? ""), and \(directory) has \(ByteCount.format(available)) free"
        }
    }

    public var hints: [String] {
        switch self {
        case .missingDirectory(_, let directory): ["create it first (mkdir -p \(directory)), or name another --out"]
        case .isDirectory: ["name a file inside it with --out"]
        case .needsDirectory: ["name a directory with --out, or use --format docker for a stream"]
        case .noSpace: ["free space there, or write elsewhere with --out; a size far beyond any image's is the registry's error (its manifest lies), not yours"]
        default: []
        }
    }
}

/// What an output path names, as a person means it.
public enum OutputKind: Sendable, Equatable {
    /// `-`: standard output.
    case standardOutput
    /// A regular file, or a path where one will be: written under a
    /// temporary name beside `resolved` (the path with every symlink
    /// followed, so a link stays a link) and renamed onto it when complete.
    case file(resolved: String)
    /// An existing FIFO, character or block device, or socket: written
    /// through as it is, with no temporary copy (it can receive partial
    /// data if the command fails).
    case stream

    /// What `path` names: `-`, a stream, or a file (through any symlinks).
    /// - Throws: when it is a directory, or its directory does not exist.
    public static func of(_ path: String) throws(OutputError) -> OutputKind {
        if path == "-" { return .standardOutput }
        let resolved = resolvingSymlinks(path)
        var status = stat()
        if stat(resolved, &status) == 0 {
            switch status.st_mode & S_IFMT {
            case S_IFDIR: throw .isDirectory(path: path)
            case S_IFREG: return .file(resolved: resolved)
            default: return .stream
            }
        }
        let directory = URL(fileURLWithPath: resolved).deletingLastPathComponent().path
        var isDirectory: Bool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory else {
            throw .missingDirectory(path: path, directory: directory)
        }
        return .file(resolved: resolved)
    }

    /// `path` with every symlink followed, also a last one that points
    /// nowhere yet (the file will be created where it points).
    static func resolvingSymlinks(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(current, &buffer, buffer.count - 1)
            guard length > 0 else { return current }
            let target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : URL(fileURLWithPath: current).deletingLastPathComponent().appendingPathComponent(target).path
        }
        return current
    }
}

/// Paths of temporary files and directories a run has not finished with, so
/// that a SIGINT or SIGTERM can remove them before the process exits.
public final class TemporaryPaths: Sendable {
    private let paths = Mutex<Set<String>>([])

    public init() {}

    public func insert(_ path: String) { paths.withLock { _ = $0.insert(path) } }
    public func remove(_ path: String) { paths.withLock { _ = $0.remove(path) } }

    /// Removes every registered path; called from the signal handler's thread.
    public func removeAll() {
        let all = paths.withLock { current in
            defer { current.removeAll() }
            return current
        }
        for path in all { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// A file output: for a file target, written under a temporary name beside
/// it and renamed onto it only when complete, so the target is either
/// untouched or whole (an existing file keeps its permissions); for a
/// stream target (a FIFO, a device), written straight through.
public final class OutputFile {
    /// The path the user named.
    public let target: String
    /// Where the bytes go until `commit`: the temporary path, or the target itself for a stream.
    public let temporary: String
    public let descriptor: FileDescriptor
    /// Whether bytes may be written at any offset; a stream takes them in order only.
    public let isSeekable: Bool
    private let resolved: String?
    private let registry: TemporaryPaths
    private var done = false

    /// Opens the output `target` names; `-` is not a file (callers write standard output themselves).
    public init(target: String, registry: TemporaryPaths) throws(OutputError) {
        self.target = target
        self.registry = registry
        switch try OutputKind.of(target) {
        case .standardOutput:
            throw .cannotWrite(path: target, detail: "standard output is not a file")
        case .stream:
            resolved = nil
            temporary = target
            isSeekable = false
            do {
                descriptor = try FileDescriptor.open(target, .writeOnly, options: [.closeOnExec])
            } catch {
                throw .cannotWrite(path: target, detail: "\(error)")
            }
        case .file(let path):
            resolved = path
            isSeekable = true
            temporary = temporaryPath(beside: path)
            var existing = stat()
            let permissions: FilePermissions = stat(path, &existing) == 0
                ? FilePermissions(rawValue: CModeT(existing.st_mode & 0o7777)) : [.ownerReadWrite, .groupRead, .otherRead]
            do {
                descriptor = try FileDescriptor.open(
                    temporary, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec], permissions: permissions)
            } catch {
                throw .cannotWrite(path: target, detail: "\(error)")
            }
            registry.insert(temporary)
        }
    }

    /// Closes the file and, for a file target, renames it onto the target.
    public func commit() throws(OutputError) {
        guard !done else { return }
        defer { done = true }
        do {
            try descriptor.close()
        } catch {
            discardFiles()
            throw .cannotWrite(path: target, detail: "\(error)")
        }
        guard let resolved else { return }
        guard rename(temporary, resolved) == 0 else {
            let detail = String(cString: strerror(errno))
            discardFiles()
            throw .cannotWrite(path: target, detail: detail)
        }
        registry.remove(temporary)
    }

    /// Closes and deletes the temporary file, leaving the target untouched.
    /// Calling it again does nothing (a descriptor is never closed twice:
    /// its number may belong to another file by then).
    public func discard() {
        guard !done else { return }
        done = true
        try? descriptor.close()
        discardFiles()
    }

    private func discardFiles() {
        guard resolved != nil else { return }
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

/// A directory output (an OCI layout), built under a temporary name beside
/// its target and swapped onto it when complete: an existing directory is
/// replaced whole, atomically where the file system can exchange two names.
public final class OutputDirectory {
    public let target: String
    public let temporary: String
    private let resolved: String
    private let registry: TemporaryPaths
    private var done = false

    public init(target: String, registry: TemporaryPaths) throws(OutputError) {
        self.target = target
        self.registry = registry
        guard target != "-" else { throw .needsDirectory(path: target, what: "an OCI layout") }
        resolved = OutputKind.resolvingSymlinks(target)
        var status = stat()
        if stat(resolved, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else { throw .notADirectory(path: target) }
        } else {
            let directory = URL(fileURLWithPath: resolved).deletingLastPathComponent().path
            var isDirectory: Bool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory else {
                throw .missingDirectory(path: target, directory: directory)
            }
        }
        temporary = temporaryPath(beside: resolved)
        guard mkdir(temporary, 0o755) == 0 else {
            throw .cannotWrite(path: target, detail: String(cString: strerror(errno)))
        }
        registry.insert(temporary)
    }

    /// Puts the finished directory in place of the target.
    public func commit() throws(OutputError) {
        defer { done = true }
        var status = stat()
        if stat(resolved, &status) == 0 {
            // Swap the two names, then remove the old layout (now under the temporary name).
            if exchange(temporary, resolved) {
                try? FileManager.default.removeItem(atPath: temporary)
                registry.remove(temporary)
                return
            }
            // No exchange here (another file system, an old kernel): move the old one aside first.
            let aside = temporaryPath(beside: resolved)
            registry.insert(aside)
            guard rename(resolved, aside) == 0 else { throw failed(String(cString: strerror(errno))) }
            guard rename(temporary, resolved) == 0 else {
                let detail = String(cString: strerror(errno))
                _ = rename(aside, resolved)
                throw failed(detail)
            }
            try? FileManager.default.removeItem(atPath: aside)
            registry.remove(aside)
        } else if rename(temporary, resolved) != 0 {
            throw failed(String(cString: strerror(errno)))
        }
        registry.remove(temporary)
    }

    private func failed(_ detail: String) -> OutputError {
        try? FileManager.default.removeItem(atPath: temporary)
        registry.remove(temporary)
        return .cannotWrite(path: target, detail: detail)
    }

    deinit {
        if !done {
            try? FileManager.default.removeItem(atPath: temporary)
            registry.remove(temporary)
        }
    }
}

/// Exchanges two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`,
/// looked up at run time; false where it is missing or refused).
private func exchange(_ a: String, _ b: String) -> Bool {
    #if os(Linux)
    typealias Renameat2 = @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return false }
    let renameExchange: UInt32 = 2
    return unsafeBitCast(symbol, to: Renameat2.self)(AT_FDCWD, a, AT_FDCWD, b, renameExchange) == 0
    #elseif canImport(Darwin)
    return renamex_np(a, b, UInt32(RENAME_SWAP)) == 0
    #else
    return false
    #endif
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
        try copy(from: file, to: .standardOutput)
    }

    /// Copies a file, from its start, to `destination` in order (a stream).
    public static func copy(from file: FileDescriptor, to destination: FileDescriptor) throws {
        try FileChunks.forEach(in: file) { piece, _ in
            try FileChunks.write(piece, to: destination, at: nil)
        }
    }
}

/// Whether an output of a known size fits where it goes, asked before any
/// byte is fetched: a manifest may claim any size (a layer of a petabyte),
/// and a disk that fills halfway through a pull wastes the pull.
public enum OutputSpace {
    /// Throws ``OutputError/noSpace`` when `needed` bytes do not fit in the
    /// file system of `path`'s directory; `blobs` name the largest in the message.
    public static func check(_ path: String, needed: Int64, blobs: [Descriptor]) throws(OutputError) {
        let directory = directory(of: path)
        var status = statvfs()
        guard statvfs(directory, &status) == 0 else { return }
        let available = Int64(clamping: UInt64(status.f_bavail).multipliedReportingOverflow(by: UInt64(status.f_frsize)).partialValue)
        guard needed > available else { return }
        let largest = blobs.max { $0.size < $1.size }
        throw .noSpace(path: path, needed: needed, available: available, directory: directory, largest: largest?.digest, largestSize: largest?.size ?? 0)
    }

    private static func directory(of path: String) -> String {
        let resolved = OutputKind.resolvingSymlinks(path)
        guard let slash = resolved.lastIndex(of: "/") else { return "." }
        return slash == resolved.startIndex ? "/" : String(resolved[..<slash])
    }
}
