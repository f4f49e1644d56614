#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ImageArchive
import SystemPackage

/// Writing a command's result to the output the user named: nil or `-` is
/// standard output, a FIFO or device is written through, a file is written
/// beside its target and renamed onto it.
public enum OutputWriting {
    /// Writes `bytes` (a manifest, a config, an expression) to `path`.
    public static func write(_ bytes: Data, to path: String?, temporaryPaths: TemporaryPaths) throws {
        guard let path, path != "-" else {
            do {
                try StandardOutput.write(bytes)
            } catch {
                throw OutputError.writing("standard output", error)
            }
            return
        }
        let file = try OutputFile(target: path, registry: temporaryPaths)
        do {
            try bytes.withUnsafeBytes { try FileChunks.write($0, to: file.descriptor, at: file.isSeekable ? 0 : nil) }
        } catch {
            file.discard()
            throw OutputError.writing(path, error)
        }
        try file.commit()
    }

    /// Runs `body` with a file it may write at any offset (an archive laid
    /// out before its blobs arrive), then puts the result at `path`: renamed
    /// onto a file target, or copied in order to standard output (`-`) or a
    /// stream target, from a temporary file in TMPDIR that is removed after.
    public static func withSeekableFile(
        for path: String, temporaryPaths: TemporaryPaths, _ body: (_ file: FileDescriptor, _ shownPath: String) async throws -> Void
    ) async throws {
        let kind = try OutputKind.of(path)
        if case .file = kind {
            let file = try OutputFile(target: path, registry: temporaryPaths)
            do {
                try await body(file.descriptor, path)
            } catch {
                file.discard()
                throw error
            }
            try file.commit()
            return
        }
        let staging = try OutputFile(
            target: FileManager.default.temporaryDirectory.path + "/hocker-output-\(UInt32.random(in: .min ... .max))", registry: temporaryPaths)
        defer { staging.discard() }
        try await body(staging.descriptor, path)
        let shown = path == "-" ? "standard output" : path
        if case .standardOutput = kind {
            do {
                try StandardOutput.copy(from: staging.descriptor)
            } catch {
                throw OutputError.writing(shown, error)
            }
            return
        }
        let stream = try OutputFile(target: path, registry: temporaryPaths)
        do {
            try StandardOutput.copy(from: staging.descriptor, to: stream.descriptor)
        } catch {
            stream.discard()
            throw OutputError.writing(shown, error)
        }
        try stream.commit()
    }
}
