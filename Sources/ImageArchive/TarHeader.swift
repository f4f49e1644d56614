import ImageReference

/// A POSIX ustar header for a regular file or a directory, as the 512 bytes
/// that precede its data in a tar stream. Fields are deterministic (mode
/// 0644 or 0755, owner 0, mtime 0) so the same inputs always give the same
/// archive.
public struct TarHeader: Sendable {
    public static let blockSize = 512

    public var name: String
    /// The size of the file's data in bytes.
    public var size: Int64
    public var mode: Int = 0o644
    public var modificationTime: Int64 = 0
    /// `0` for a regular file, `5` for a directory.
    public var typeFlag: UInt8 = UInt8(ascii: "0")

    public init(name: String, size: Int64) throws(ArchiveError) {
        guard !name.isEmpty, name.utf8.count <= 100, !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw .invalidEntryName(name)
        }
        guard size >= 0 else { throw .invalidSize(name, size) }
        self.name = name
        self.size = size
    }

    /// A directory entry; `name` ends with `/`.
    public init(directory name: String) throws(ArchiveError) {
        try self.init(name: name, size: 0)
        mode = 0o755
        typeFlag = UInt8(ascii: "5")
    }

    /// The data padded to whole blocks, in bytes.
    public var paddedSize: Int64 {
        (size + Int64(Self.blockSize) - 1) / Int64(Self.blockSize) * Int64(Self.blockSize)
    }

    /// The 512 header bytes.
    public var bytes: [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        func put(_ text: some Collection<UInt8>, at offset: Int) {
            for (index, byte) in text.enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int64, width: Int) -> [UInt8] {
            // width-1 octal digits and a NUL terminator.
            let digits = String(value, radix: 8)
            return Array(String(repeating: "0", count: max(0, width - 1 - digits.count)).utf8) + Array(digits.utf8) + [0]
        }
        put(name.utf8, at: 0)
        put(octal(Int64(mode), width: 8), at: 100)
        put(octal(0, width: 8), at: 108)
        put(octal(0, width: 8), at: 116)
        if size < 0o77777777777 {
            put(octal(size, width: 12), at: 124)
        } else {
            // GNU base-256 for files of 8 GiB and more.
            var value = size
            block[124] = 0x80
            for index in stride(from: 135, to: 124, by: -1) {
                block[index] = UInt8(value & 0xff)
                value >>= 8
            }
        }
        put(octal(modificationTime, width: 12), at: 136)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148)
        block[156] = typeFlag
        put("ustar\0".utf8, at: 257)
        put("00".utf8, at: 263)
        put("root".utf8, at: 265)
        put("root".utf8, at: 297)
        let checksum = block.reduce(0) { $0 + Int64($1) }
        put(octal(checksum, width: 7), at: 148)
        block[155] = UInt8(ascii: " ")
        return block
    }
}

/// A layout that cannot be written.
public enum ArchiveError: UserFacingError, Equatable {
    case invalidEntryName(String)
    case invalidSize(String, Int64)

    public var message: String {
        switch self {
        case .invalidEntryName(let name): "cannot store '\(name)' in a tar archive"
        case .invalidSize(let name, let size): "invalid size \(size) for archive entry \(name)"
        }
    }
}
