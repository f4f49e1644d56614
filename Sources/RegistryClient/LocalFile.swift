#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Files a run reads whole (auth files, lock files, manifests given as
/// files, registries.conf), read with the system's own words for what went
/// wrong: "No such file or directory", "Permission denied".
public enum LocalFile {
    /// The bytes of the file at `path`, at most `limit` of them. A FIFO or
    /// a device (`/dev/null`) is read to its end like a file.
    public static func read(_ path: String, limit: Int = 64 << 20) throws(LocalFileError) -> Data {
        let file: FileDescriptor
        do {
            file = try FileDescriptor.open(path, .readOnly, options: [.closeOnExec])
        } catch {
            throw LocalFileError(path: path, reason: Self.describe(error))
        }
        defer { try? file.close() }
        var bytes = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
            } catch {
                throw LocalFileError(path: path, reason: Self.describe(error))
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: buffer[0..<count])
            guard bytes.count <= limit else { throw LocalFileError(path: path, reason: "it is larger than \(limit >> 20) MiB") }
        }
    }

    /// The text of the file at `path`, which must be UTF-8.
    public static func readText(_ path: String, limit: Int = 64 << 20) throws(LocalFileError) -> String {
        guard let text = String(validating: try read(path, limit: limit), as: UTF8.self) else {
            throw LocalFileError(path: path, reason: "it is not UTF-8 text")
        }
        return text
    }

    /// Makes `path` and the directories above it that are missing, as `mkdir -p` does.
    public static func makeDirectories(_ path: String) throws(LocalFileError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            guard mkdir(current, 0o755) != 0 else { continue }
            let failure = Errno(rawValue: errno)
            var status = stat()
            guard failure == .fileExists, stat(current, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                throw LocalFileError(path: current, reason: failure == .fileExists ? "it exists and is not a directory" : failure.description)
            }
        }
    }

    /// The names in a directory, sorted; nil when it cannot be listed.
    public static func names(in directory: String) -> [String]? {
        (try? FileManager.default.contentsOfDirectory(atPath: directory))?.sorted()
    }

    /// The user's home directory: `HOME`, else the system's record of the user.
    public static func home(_ environment: [String: String]) -> String {
        if let home = environment["HOME"], !home.isEmpty { return home }
        return FileManager.default.homeDirectoryForCurrentUser.path
    }

    static func describe(_ error: any Error) -> String {
        if let errno = error as? Errno { return errno.description }
        return "\(error)"
    }
}

/// A file that cannot be read, and why in the system's words.
public struct LocalFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    /// Why: "No such file or directory", "Permission denied", ….
    public var reason: String

    public var description: String { reason }
}
