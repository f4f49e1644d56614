// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "hocker",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "hocker", targets: ["hocker"]),
        .executable(name: "hocker-manifest", targets: ["hocker-manifest"]),
        .executable(name: "hocker-config", targets: ["hocker-config"]),
        .executable(name: "hocker-layer", targets: ["hocker-layer"]),
        .executable(name: "hocker-image", targets: ["hocker-image"]),
        .executable(name: "docker2nix", targets: ["docker2nix"]),
        .library(name: "ImageReference", targets: ["ImageReference"]),
        .library(name: "RegistryClient", targets: ["RegistryClient"]),
        .library(name: "ImageArchive", targets: ["ImageArchive"]),
        .library(name: "NixExpression", targets: ["NixExpression"]),
        .library(name: "HockerCLI", targets: ["HockerCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
    ],
    targets: [
        .target(name: "ImageReference"),
        .target(
            name: "RegistryClient",
            dependencies: [
                "ImageReference",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ImageArchive",
            dependencies: [
                "ImageReference",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(name: "NixExpression", dependencies: ["ImageReference"]),
        .target(
            name: "HockerCLI",
            dependencies: [
                "ImageReference", "RegistryClient", "ImageArchive", "NixExpression",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "RegistryTestBed",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "hocker", dependencies: ["HockerCLI"]),
        .executableTarget(name: "hocker-manifest", dependencies: ["HockerCLI"]),
        .executableTarget(name: "hocker-config", dependencies: ["HockerCLI"]),
        .executableTarget(name: "hocker-layer", dependencies: ["HockerCLI"]),
        .executableTarget(name: "hocker-image", dependencies: ["HockerCLI"]),
        .executableTarget(name: "docker2nix", dependencies: ["HockerCLI"]),
        .testTarget(name: "ImageReferenceTests", dependencies: ["ImageReference", "RegistryTestBed"]),
        .testTarget(name: "RegistryClientTests", dependencies: ["RegistryClient", "RegistryTestBed"], exclude: ["Fixtures"]),
        .testTarget(name: "NixExpressionTests", dependencies: ["NixExpression", "ImageReference"], exclude: ["Fixtures"]),
        .testTarget(
            name: "ImageArchiveTests",
            dependencies: ["ImageArchive", .product(name: "SystemPackage", package: "swift-system")],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "ImageReference", "RegistryClient", "ImageArchive", "RegistryTestBed", "NixExpression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
