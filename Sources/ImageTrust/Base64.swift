#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Standard base64 as Go's decoder reads it, which is how the formats
/// here were written: line breaks anywhere are skipped, nothing else is.
func base64Bytes(_ text: some StringProtocol) -> [UInt8]? {
    Data(base64Encoded: String(text.filter { $0 != "\n" && $0 != "\r" })).map(Array.init)
}
