// swift-tools-version:6.1
// Comparison baseline for LOACL's RPC benchmark: a grpc-swift-2 echo server and load client.
// Deliberately a separate package (own .build) so the heavy grpc/BoringSSL build never touches
// the main package. Raw-bytes codec, no swift-protobuf.
import PackageDescription

let package = Package(
    name: "grpc-echo",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", exact: "2.9.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .executableTarget(
            name: "grpc-echo",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
