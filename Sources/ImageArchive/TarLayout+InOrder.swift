import ImageSpec

extension TarLayout {
    /// Writes the archive in order, as a stream takes it: for each entry its
    /// header, then its inline bytes — or its blob's, through `blob` — then
    /// its padding; then the two zero blocks that end a tar. The same bytes
    /// ``writeSkeleton(to:)`` and the blobs put into a file.
    ///
    /// - Parameters:
    ///   - put: takes every piece but the blobs' data, in order.
    ///   - blob: writes blob `index` (its place among ``blobEntries``) in full.
    public func writeInOrder(
        put: (UnsafeRawBufferPointer) throws -> Void, blob: (_ index: Int, _ descriptor: Descriptor) throws -> Void
    ) throws {
        let zeros = [UInt8](repeating: 0, count: TarHeader.blockSize * 2)
        var blobIndex = 0
        for entry in entries {
            try entry.header.bytes.withUnsafeBytes { try put($0) }
            switch entry.content {
            case .inline(let bytes):
                try bytes.withUnsafeBytes { try put($0) }
            case .directory:
                break
            case .blob(let descriptor):
                try blob(blobIndex, descriptor)
                blobIndex += 1
            }
            let padding = Int(entry.header.paddedSize - entry.header.size)
            if padding > 0 { try zeros.withUnsafeBytes { try put(UnsafeRawBufferPointer(rebasing: $0[0..<padding])) } }
        }
        try zeros.withUnsafeBytes { try put($0) }
    }
}
