// swift-tools-version:6.1
// LOACL — Lightweight OpenAI Assistants ChatBot Library.
// C libraries (protobuf-c, libpq, OpenSSL) are reached only through the three `C*` system
// targets and the thin Swift wrappers right above them; everything else is plain Swift 6.
import PackageDescription

let nio: Target.Dependency = .product(name: "NIOCore", package: "swift-nio")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let metrics: Target.Dependency = .product(name: "Metrics", package: "swift-metrics")
/// The server's modules adopt `NonisolatedNonsendingByDefault` (SE-0461): a nonisolated async
/// function runs on its caller's executor instead of hopping to the generic one on entry and
/// after every call it awaits. A call's handler task prefers its connection's event loop, so
/// those hops changed no thread, yet each was a `swift_task_switch` that takes the task's status
/// lock to read that preference: seven per unary echo call, counted with a uprobe (bench/RESULTS.md,
/// session 11). Blocking work belongs on threads of its own in any case (the database on the libpq
/// pool's, pdftotext and file writes on a detached thread), never on the caller's executor.
let callerIsolated: [SwiftSetting] = [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
/// The server's per-call modules (LOACLServerCore, LOACLServer) are built without the runtime's
/// dynamic exclusivity checks: their class state is confined to one event loop, and the checks
/// (`swift_beginAccess` and its thread-local access set on every class `var` access) cost 5–7 %
/// of the server's CPU per unary call (bench/RESULTS.md, session 10). Unsafe flags are allowed
/// here because neither module is in a library product: packages that depend on LOACLClient or
/// LOACLMessages never build them. LOACLWire, which the client shares, marks its hot state
/// `@exclusivity(unchecked)` instead.
let serverHotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])] + callerIsolated

let package = Package(
    name: "loacl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "loacld", targets: ["loacld"]),
        .executable(name: "loacl", targets: ["loacl"]),
        .library(name: "LOACLClient", targets: ["LOACLClient"]),
        .library(name: "LOACLMessages", targets: ["LOACLMessages"]),
        // For FuzzTesting/ (a separate package that reaches the parsers through these).
        .library(name: "LOACLFuzzableParsers", targets: [
            "LOACLCore", "LOACLWire", "LOACLCrypto", "LOACLUpstream", "LOACLTLS", "LOACLPostgres",
            "LOACLServerCore", "LOACLServer", "LOACLServices",
        ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
    ],
    targets: [
        // MARK: C system libraries (shims only)
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),

        // MARK: Generated protobuf-c code for proto/ (scripts/generate.sh writes it)
        .target(name: "LOACLProtoC", dependencies: ["CProtobufC"], publicHeadersPath: "include"),

        // MARK: Swift value types for every proto message, bridged to protobuf-c (generated)
        .target(name: "LOACLMessages", dependencies: ["LOACLProtoC", "CProtobufC"]),

        // MARK: libpq wrapper, connection pool, migration runner
        .target(name: "LOACLPostgres", dependencies: ["CLibPQ", "LOACLEncoding", logging, nio, nioPosix]),
        .target(name: "LOACLMigrations", dependencies: ["LOACLPostgres", logging]),

        // MARK: OpenSSL crypto: AES-256-GCM, HMAC-SHA256, SHA-256, random bytes, JWT (HS256, RS256, ES256, EdDSA) and JWKS
        .target(name: "LOACLCrypto", dependencies: ["COpenSSL", "LOACLEncoding"]),
        // MARK: Hex and Base64URL text encodings (shared by crypto and the PostgreSQL layer)
        .target(name: "LOACLEncoding"),
        // MARK: OpenSSL TLS as a SwiftNIO channel handler
        .target(name: "LOACLTLS", dependencies: ["COpenSSL", nio, logging]),

        // MARK: RPC core shared by server and client: status codes, metadata, method descriptors
        .target(name: "LOACLCore", dependencies: ["LOACLMessages"]),
        // MARK: LOACL wire v1: preface, frames, frame codec
        .target(name: "LOACLWire", dependencies: ["LOACLCore", "LOACLMessages", nio]),
        // MARK: Server core, transport-agnostic: method router, call executor (interceptors,
        // deadlines, error → status), context, interceptors, generated handler protocols
        .target(name: "LOACLServerCore", dependencies: ["LOACLCore", "LOACLMessages", nio, logging, metrics],
                swiftSettings: serverHotPath),
        // MARK: Server transports and listeners (the LOACL wire; gRPC over swift-nio-http2), feeding
        // the core; graceful shutdown
        .target(name: "LOACLServer", dependencies: [
            "LOACLServerCore", "LOACLCore", "LOACLWire", "LOACLMessages", "LOACLTLS", nio, nioPosix, logging, metrics,
            .product(name: "NIOHTTP2", package: "swift-nio-http2"), .product(name: "NIOHPACK", package: "swift-nio-http2"),
            // gzip for gRPC messages (zlib through compress-nio).
            .product(name: "CompressNIO", package: "compress-nio"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: serverHotPath),
        // MARK: Upstream model providers (OpenAI Responses, OpenAI-compatible chat, offline)
        .target(name: "LOACLUpstream", dependencies: [
            nio, logging, .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        // MARK: Service implementations (one folder per service)
        .target(name: "LOACLServices", dependencies: [
            "LOACLServerCore", "LOACLCore", "LOACLMessages", "LOACLPostgres", "LOACLCrypto", "LOACLUpstream", logging, metrics, nio, nioPosix,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            // JWKS downloads (Identity/JWKSDownload.swift).
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ], swiftSettings: callerIsolated),
        // MARK: Swift client
        .target(name: "LOACLClient", dependencies: [
            "LOACLCore", "LOACLWire", "LOACLMessages", "LOACLTLS", nio, nioPosix, logging,
        ]),

        // MARK: Executables
        .executableTarget(name: "loacld", dependencies: [
            "LOACLServer", "LOACLServerCore", "LOACLServices", "LOACLMessages", "LOACLMigrations", "LOACLPostgres", "LOACLTLS", logging, metrics, nio, nioPosix,
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Command-line client: chat and tenant administration.
        .executableTarget(name: "loacl", dependencies: [
            "LOACLClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Load generator for bench/run.sh (not a test).
        .executableTarget(name: "loacl-bench", dependencies: [
            "LOACLClient", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Tests
        // A local HTTP server speaking OpenAI's streaming wire format, for the upstream and
        // services tests (the one stand-in: this machine cannot reach OpenAI).
        .target(name: "LOACLFakeOpenAI", dependencies: [nio, nioPosix, .product(name: "NIOHTTP1", package: "swift-nio")],
                path: "Tests/LOACLFakeOpenAI"),
        // JWT signing keys made with the openssl tool, for the JWT and JWKS tests, and
        // `offCooperativePool` / `onOwnThread` for tests that must block (child processes,
        // libpq set-up, raw sockets).
        .target(name: "LOACLTestKeys", dependencies: ["LOACLEncoding", nioPosix], path: "Tests/LOACLTestKeys"),
        .testTarget(name: "LOACLMessagesTests", dependencies: ["LOACLMessages", "LOACLTestKeys"]),
        .testTarget(name: "LOACLPostgresTests", dependencies: ["LOACLPostgres", "LOACLMigrations", "LOACLTestKeys", logging]),
        .testTarget(name: "LOACLTLSTests", dependencies: ["LOACLTLS", "LOACLCrypto", "LOACLTestKeys", nio, nioPosix]),
        .testTarget(name: "LOACLUpstreamTests", dependencies: [
            "LOACLUpstream", "LOACLFakeOpenAI", "LOACLTestKeys", nio, nioPosix, logging, .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "LOACLServicesTests", dependencies: [
            "LOACLServices", "LOACLServer", "LOACLServerCore", "LOACLClient", "LOACLPostgres", "LOACLMigrations", "LOACLCrypto",
            "LOACLUpstream", "LOACLFakeOpenAI", "LOACLTestKeys", nio, nioPosix, logging, .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "LOACLWireTests", dependencies: [
            "LOACLWire", "LOACLServer", "LOACLServerCore", "LOACLServices", "LOACLClient", "LOACLCore", "LOACLMessages", "LOACLTLS",
            "LOACLTestKeys", nio, nioPosix, logging, .product(name: "MetricsTestKit", package: "swift-metrics"),
            .product(name: "NIOHPACK", package: "swift-nio-http2"), .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
