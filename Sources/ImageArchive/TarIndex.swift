/// One entry of a tar archive as its header describes it: where its data
/// lies, not the data itself.
public struct TarEntry: Hashable, Sendable {
    /// The path, from a PAX `path` record or GNU long name when there is
    /// one, with any leading `./` removed.
    public var name: String
    /// `0` (or NUL) for a regular file, `5` a directory, `2` a symlink, `1` a hard link.
    public var typeFlag: UInt8
    /// Bytes of data (a PAX `size` record wins over the header's field).
    public var size: Int64
    /// Where the data starts.
    public var dataOffset: Int64

    public init(name: String, typeFlag: UInt8, size: Int64, dataOffset: Int64) {
        self.name = name
        self.typeFlag = typeFlag
        self.size = size
        self.dataOffset = dataOffset
    }

    public var isRegularFile: Bool { typeFlag == UInt8(ascii: "0") || typeFlag == 0 || typeFlag == UInt8(ascii: "7") }
    /// Where its data ends (padding excluded).
    public var dataEnd: Int64 { dataOffset + size }
}

/// Reads a tar archive's headers, in order, from bytes given to it in
/// order — a whole stream, or only the parts it asks for
/// (``nextOffset``/``neededCount``), so a file's entries are listed by
/// reading a block per entry and skipping every entry's data.
///
/// Understands ustar (with its name prefix), PAX extended headers (`path`,
/// `size`) and GNU long names — the tars docker, podman, skopeo and hocker
/// write.
public struct TarIndexer: Sendable {
    /// The entries read so far, in archive order.
    public private(set) var entries: [TarEntry] = []
    /// Whether the end-of-archive block has been read.
    public private(set) var isFinished = false
    /// The offset of the next byte it needs; bytes before it are skipped.
    public var nextOffset: Int64 { blockStart + Int64(pending.count) }
    /// Where the header block or extension data being read starts.
    private var blockStart: Int64 = 0

    /// The longest PAX header or GNU long name it reads (a name is at most
    /// a few kilobytes; this stops an archive from making it buffer more).
    static let maximumExtensionSize: Int64 = 1 << 20

    private enum Want: Sendable {
        case header
        /// The data of a PAX header (`x`) or a GNU long name (`L`), then its padding.
        case extensionData(typeFlag: UInt8, size: Int64)
    }

    private var want = Want.header
    private var pending: [UInt8] = []
    /// From a PAX header or long name, for the next entry.
    private var overrideName: String?
    private var overrideSize: Int64?

    public init() {}

    /// Whether it has read part of a header block or extension, and the rest is missing so far.
    public var isInsideBlock: Bool { !pending.isEmpty }

    /// Bytes it needs next, from ``nextOffset`` (0 once finished).
    /// Fewer may be given; it then needs the rest.
    public var neededCount: Int {
        if isFinished { return 0 }
        switch want {
        case .header: return TarHeader.blockSize - pending.count
        case .extensionData(_, let size): return Int(size) - pending.count
        }
    }

    /// Reads `bytes`, which start at archive offset `offset`. Bytes before
    /// ``nextOffset`` are skipped; `offset` must not lie past it.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(TarReadError) {
        // What follows the end-of-archive block (a record's zero padding) is not read.
        guard !isFinished else { return }
        precondition(offset <= nextOffset, "bytes given out of order")
        // Each step starts where the indexer needs its next byte: an entry's data is skipped.
        while !isFinished, nextOffset - offset < Int64(bytes.count) {
            let index = Int(nextOffset - offset)
            let take = min(neededCount, bytes.count - index)
            pending.append(contentsOf: bytes[index..<(index + take)])
            if neededCount == 0 { try complete() }
        }
    }

    /// A header block or an extension's data is whole: read it.
    private mutating func complete() throws(TarReadError) {
        let block = pending
        pending = []
        switch want {
        case .header:
            try readHeader(block)
        case .extensionData(let typeFlag, let size):
            readExtension(block, typeFlag: typeFlag)
            blockStart += Self.padded(size)
            want = .header
        }
    }

    private mutating func readHeader(_ block: [UInt8]) throws(TarReadError) {
        let headerOffset = blockStart
        if block.allSatisfy({ $0 == 0 }) {
            isFinished = true
            return
        }
        let header = try ParsedHeader(block, at: headerOffset)
        let dataOffset = headerOffset + Int64(TarHeader.blockSize)
        switch header.typeFlag {
        case UInt8(ascii: "x"), UInt8(ascii: "L"):
            guard header.size <= Self.maximumExtensionSize else { throw .extensionTooLong(offset: headerOffset, size: header.size) }
            blockStart = dataOffset
            want = .extensionData(typeFlag: header.typeFlag, size: header.size)
            if header.size == 0 { try complete() }
        case UInt8(ascii: "g"), UInt8(ascii: "K"):
            // A global PAX header or a GNU long link name: nothing hocker reads.
            blockStart = dataOffset + Self.padded(header.size)
        default:
            let size = overrideSize ?? header.size
            entries.append(TarEntry(name: Self.clean(overrideName ?? header.name), typeFlag: header.typeFlag, size: size, dataOffset: dataOffset))
            overrideName = nil
            overrideSize = nil
            // Only regular files have data in the archive.
            let hasData = header.typeFlag != UInt8(ascii: "1") && header.typeFlag != UInt8(ascii: "2") && header.typeFlag != UInt8(ascii: "5")
            blockStart = dataOffset + (hasData ? Self.padded(size) : 0)
        }
    }

    private mutating func readExtension(_ data: [UInt8], typeFlag: UInt8) {
        if typeFlag == UInt8(ascii: "L") {
            overrideName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
            return
        }
        // PAX records: "LENGTH key=value\n", LENGTH counting the whole record.
        var index = 0
        while index < data.count {
            guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[index..<space], as: UTF8.self)), length > 0, index + length <= data.count
            else { return }
            let record = data[(space + 1)..<(index + length - 1)]
            if let equals = record.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: record[..<equals], as: UTF8.self)
                let value = String(decoding: record[(equals + 1)...], as: UTF8.self)
                if key == "path" { overrideName = value }
                if key == "size", let size = Int64(value), size >= 0 { overrideSize = size }
            }
            index += length
        }
    }

    static func padded(_ size: Int64) -> Int64 {
        let block = Int64(TarHeader.blockSize)
        return (size + block - 1) / block * block
    }

    static func clean(_ name: String) -> String {
        var name = Substring(name)
        while name.hasPrefix("./") { name = name.dropFirst(2) }
        return String(name)
    }
}

/// The fields of a header block hocker reads, checked against its checksum.
struct ParsedHeader {
    var name: String
    var size: Int64
    var typeFlag: UInt8

    init(_ block: [UInt8], at offset: Int64) throws(TarReadError) {
        guard let stored = Self.octal(block[148..<156]) else { throw .badHeader(offset: offset) }
        // The checksum counts its own field as eight spaces.
        var sum: Int64 = 0
        for (index, byte) in block.enumerated() { sum += (148..<156).contains(index) ? 32 : Int64(byte) }
        guard sum == stored else { throw .badHeader(offset: offset) }
        let base = String(decoding: block[0..<100].prefix { $0 != 0 }, as: UTF8.self)
        // ustar's prefix field, when the magic says ustar.
        let isUstar = block[257..<262].elementsEqual("ustar".utf8)
        let prefix = isUstar ? String(decoding: block[345..<500].prefix { $0 != 0 }, as: UTF8.self) : ""
        name = prefix.isEmpty ? base : prefix + "/" + base
        typeFlag = block[156]
        if block[124] & 0x80 != 0 {
            // GNU base-256: the remaining bytes, big-endian.
            var value: Int64 = 0
            for byte in block[125..<136] {
                guard value < Int64.max >> 8 else { throw .badHeader(offset: offset) }
                value = value << 8 | Int64(byte)
            }
            size = value
        } else {
            guard let value = Self.octal(block[124..<136]) else { throw .badHeader(offset: offset) }
            size = value
        }
    }

    /// An octal field: digits, led by spaces or zeros, ended by NUL or space.
    static func octal(_ field: ArraySlice<UInt8>) -> Int64? {
        var value: Int64 = 0
        var seenDigit = false
        for byte in field {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard value < Int64.max >> 3 else { return nil }
                value = value << 3 | Int64(byte - UInt8(ascii: "0"))
                seenDigit = true
            case 0, UInt8(ascii: " "):
                if seenDigit { return value }
            default:
                return nil
            }
        }
        return seenDigit ? value : 0
    }
}

/// A tar archive that cannot be read.
public enum TarReadError: Error, Equatable, Sendable {
    /// A header block whose checksum or fields are wrong: not a tar, or damaged there.
    case badHeader(offset: Int64)
    /// A PAX header or long name of more than a megabyte.
    case extensionTooLong(offset: Int64, size: Int64)
}
