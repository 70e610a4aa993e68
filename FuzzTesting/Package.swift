// swift-tools-version:6.1
// libFuzzer targets for LOACL's parsers of untrusted bytes (docs/FUZZING.md). A package of its
// own, so the main package's build and tests never see -sanitize=fuzzer. Build and run with
// scripts/fuzz.sh; the targets reach internal parsers with `@testable import`, so the build
// passes -enable-testing.
import Foundation
import PackageDescription

// A path dependency is named after its folder, which is whatever the clone is called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let parsers: Target.Dependency = .product(name: "LOACLFuzzableParsers", package: root.lastPathComponent.lowercased())
let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioEmbedded: Target.Dependency = .product(name: "NIOEmbedded", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let hpack: Target.Dependency = .product(name: "NIOHPACK", package: "swift-nio-http2")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")

/// One executable per fuzz target; each exports LLVMFuzzerTestOneInput.
func fuzzer(_ name: String, _ extra: [Target.Dependency] = []) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport", parsers, nio] + extra)
}

let package = Package(
    name: "LOACLFuzzTesting",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [nio]),
        fuzzer("FuzzFrameDecoder", [nioEmbedded]),
        fuzzer("FuzzCallHeaders"),
        fuzzer("FuzzRequestMessages"),
        fuzzer("FuzzPageToken"),
        fuzzer("FuzzMetadataJSON"),
        fuzzer("FuzzFieldValidation"),
        fuzzer("FuzzJWT"),
        fuzzer("FuzzJWKS"),
        fuzzer("FuzzServerSentEvents"),
        fuzzer("FuzzResponsesStream"),
        fuzzer("FuzzChatCompletionsStream"),
        fuzzer("FuzzGRPCMessageReader"),
        fuzzer("FuzzGRPCRequestHead", [hpack]),
        fuzzer("FuzzServiceValidation", [nioPosix, logging]),
        fuzzer("FuzzTLSHandshake", [nioEmbedded]),
    ],
    swiftLanguageModes: [.v6]
)
