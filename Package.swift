// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "hocker",
    // Mutex (Synchronization) needs macOS 15.
    platforms: [.macOS(.v15)],
    products: [
        // One executable; the old tool names are links to it (scripts/install makes them).
        .executable(name: "hocker", targets: ["hocker"]),
        .library(name: "ImageReference", targets: ["ImageReference"]),
        .library(name: "ImageSpec", targets: ["ImageSpec"]),
        .library(name: "RegistryClient", targets: ["RegistryClient"]),
        .library(name: "ImageArchive", targets: ["ImageArchive"]),
        .library(name: "NixExpression", targets: ["NixExpression"]),
        .library(name: "ImageLock", targets: ["ImageLock"]),
        .library(name: "RegistryMirrors", targets: ["RegistryMirrors"]),
        .library(name: "DaemonClient", targets: ["DaemonClient"]),
        .library(name: "ImageTrust", targets: ["ImageTrust"]),
        .library(name: "ImagePull", targets: ["ImagePull"]),
        .library(name: "HockerCLI", targets: ["HockerCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        // Without its default trait, which links Foundation (and so ICU) into the executable.
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2", traits: []),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.0"),
    ],
    targets: [
        // Pure: names, digests, platforms, registry URIs; the user-facing error protocol.
        .target(name: "ImageReference"),
        // Pure: the OCI / Docker data model, manifest parsing, pins.
        .target(
            name: "ImageSpec",
            dependencies: ["ImageReference", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The network: one request path, authentication, credentials, blobs.
        .target(
            name: "RegistryClient",
            dependencies: [
                "ImageReference", "ImageSpec",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // Writers of tars, docker-archives and OCI layouts; no network.
        .target(
            name: "ImageArchive",
            dependencies: ["ImageReference", "ImageSpec", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // Pure: the Nix syntax tree, its printer, hashes and generators.
        .target(name: "NixExpression", dependencies: ["ImageReference", "ImageSpec"]),
        // Pure: the lock file model and what moved between two resolutions.
        .target(name: "ImageLock", dependencies: ["ImageReference", "ImageSpec", "ImageTrust"]),
        // Pure: registries.conf (its TOML) and --mirror, and the sources a pull tries in order.
        .target(name: "RegistryMirrors", dependencies: ["ImageReference"]),
        // Pure: containers-policy.json and registries.d, signature formats, and the verdict on an image's signatures.
        .target(
            name: "ImageTrust",
            dependencies: [
                "ImageReference", "ImageSpec",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        // The Docker Engine API of a local daemon (docker, podman's service) over its unix socket.
        .target(
            name: "DaemonClient",
            dependencies: [
                "ImageReference",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // The use cases: pull images, resolve pins, keep lock files, assemble archives from local files.
        .target(
            name: "ImagePull",
            dependencies: [
                "ImageReference", "ImageSpec", "RegistryClient", "ImageArchive", "ImageLock", "RegistryMirrors", "DaemonClient", "ImageTrust",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        // The commands: parse, validate, call one use case, print.
        .target(
            name: "HockerCLI",
            dependencies: [
                "ImageReference", "ImageSpec", "RegistryClient", "ImageArchive", "NixExpression", "ImageLock", "ImagePull", "RegistryMirrors", "ImageTrust",
                "DaemonClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "RegistryTestBed",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "hocker", dependencies: ["HockerCLI"]),
        .testTarget(name: "ImageReferenceTests", dependencies: ["ImageReference", "RegistryTestBed"]),
        .testTarget(name: "ImageSpecTests", dependencies: ["ImageSpec", "ImageReference", "RegistryTestBed"], exclude: ["Fixtures"]),
        .testTarget(
            name: "RegistryClientTests",
            dependencies: [
                "RegistryClient", "ImageSpec", "RegistryTestBed", .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "ImageTrustTests", dependencies: ["ImageTrust", "ImageReference", "ImagePull", "RegistryTestBed"], exclude: ["Fixtures"]),
        .testTarget(name: "DaemonClientTests", dependencies: ["DaemonClient", "ImageReference"]),
        .testTarget(name: "RegistryMirrorsTests", dependencies: ["RegistryMirrors", "ImageReference"]),
        .testTarget(name: "ImageLockTests", dependencies: ["ImageLock", "ImageSpec", "ImageReference", "ImageTrust"], exclude: ["Fixtures"]),
        .testTarget(name: "NixExpressionTests", dependencies: ["NixExpression", "ImageSpec", "ImageReference", "RegistryTestBed"], exclude: ["Fixtures"]),
        .testTarget(
            name: "ImagePullTests",
            dependencies: [
                "ImagePull", "ImageArchive", "ImageSpec", "ImageReference", "RegistryMirrors", "RegistryClient", "ImageLock", "RegistryTestBed",
                "ImageTrust",
            ]
        ),
        .testTarget(name: "HockerCLITests", dependencies: ["HockerCLI", "ImageReference"]),
        .testTarget(
            name: "ImageArchiveTests",
            dependencies: ["ImageArchive", "ImageSpec", .product(name: "SystemPackage", package: "swift-system")],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "ImageReference", "ImageSpec", "RegistryClient", "ImageArchive", "RegistryTestBed", "NixExpression", "ImageLock", "ImageTrust",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
