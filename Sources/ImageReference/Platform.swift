/// An image platform: `os/architecture[/variant]` in Go/OCI spelling.
///
/// Matching normalises as docker (containerd's `platforms` package) does:
/// `aarch64` is `arm64`, `x86_64` is `amd64`, `arm64` without a variant is
/// `arm64/v8`, `arm` without a variant is `arm/v7`.
public struct Platform: Hashable, Sendable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    public init(os: String, architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// Parses `os/arch` or `os/arch/variant`.
    public init(parsing text: String) throws(ReferenceError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard (2...3).contains(parts.count),
              parts.allSatisfy({ part in
                  !part.isEmpty && part.utf8.count <= 64
                      && part.utf8.allSatisfy { c in
                          (0x30...0x39).contains(c) || (0x61...0x7a).contains(c) || (0x41...0x5a).contains(c)
                              || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
                      }
              })
        else { throw .invalidPlatform(text) }
        self.init(os: parts[0].lowercased(), architecture: parts[1].lowercased(), variant: parts.count == 3 ? parts[2].lowercased() : nil)
    }

    /// `linux/` and the architecture of the machine running this code.
    public static var host: Platform {
        #if arch(x86_64)
        Platform(os: "linux", architecture: "amd64")
        #elseif arch(arm64)
        Platform(os: "linux", architecture: "arm64", variant: "v8")
        #elseif arch(arm)
        Platform(os: "linux", architecture: "arm", variant: "v7")
        #elseif arch(i386)
        Platform(os: "linux", architecture: "386")
        #elseif arch(powerpc64le)
        Platform(os: "linux", architecture: "ppc64le")
        #elseif arch(s390x)
        Platform(os: "linux", architecture: "s390x")
        #elseif arch(riscv64)
        Platform(os: "linux", architecture: "riscv64")
        #else
        Platform(os: "linux", architecture: "amd64")
        #endif
    }

    public var description: String {
        variant.map { "\(os)/\(architecture)/\($0)" } ?? "\(os)/\(architecture)"
    }

    /// The platform in the canonical spelling matching compares.
    public var normalized: Platform {
        var arch = architecture.lowercased()
        var variant = self.variant?.lowercased()
        switch arch {
        case "x86_64", "x86-64", "amd64":
            arch = "amd64"
            if variant == "v1" { variant = nil }
        case "aarch64", "arm64":
            arch = "arm64"
            if variant == nil || variant == "8" || variant == "v8" { variant = "v8" }
        case "armhf":
            arch = "arm"
            variant = "v7"
        case "armel":
            arch = "arm"
            variant = "v6"
        case "arm":
            switch variant {
            case nil, "7", "v7": variant = "v7"
            case "5", "6", "8": variant = "v" + variant!
            default: break
            }
        case "i386", "i686", "x86", "386":
            arch = "386"
        default:
            break
        }
        return Platform(os: os.lowercased(), architecture: arch, variant: variant)
    }

    /// Whether an image built for `candidate` is what this platform asks for.
    public func matches(_ candidate: Platform) -> Bool {
        normalized == candidate.normalized
    }
}
