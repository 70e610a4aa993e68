// swift-tools-version:5.4
// libFuzzer targets for LOACL's parsers of untrusted bytes (docs/FUZZING.md). A package of its
// own, so the main package's build and tests never see -sanitize=fuzzer. Build and run with
// scripts/fuzz.sh; the targets reach internal parsers with `@testable import`, so the build
// passes -enable-testing.
// Tools version 5.4 on purpose: from 5.5 on, SwiftPM renames an executable's entry point
// (`--defsym main=<target>_main`), which a libFuzzer target (its main is libFuzzer's) lacks.
// The targets are still compiled as Swift 6 (`swift6` below).
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

let swift6: [SwiftSetting] = [.unsafeFlags(["-swift-version", "6"])]

/// One executable per fuzz target; each exports LLVMFuzzerTestOneInput.
func fuzzer(_ name: String, _ extra: [Target.Dependency] = []) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport", parsers, nio] + extra, swiftSettings: swift6)
}

let package = Package(
    name: "LOACLFuzzTesting",
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [nio], swiftSettings: swift6),
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
    ]
)
