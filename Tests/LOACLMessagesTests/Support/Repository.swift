import Foundation
import LOACLTestKeys

/// Paths and processes the interop and freshness tests need.
enum Repository {
    /// The repository root (this file is Tests/LOACLMessagesTests/Support/Repository.swift).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var protoDir: String { root.appendingPathComponent("proto").path }

    struct Output: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `executable` with `arguments`, feeding `input` on stdin. Off the cooperative pool:
    /// starting the child, feeding it and waiting for it all block.
    static func run(_ executable: String, _ arguments: [String], input: Data = Data()) async throws -> Output {
        try await offCooperativePool { try runBlocking(executable, arguments, input: input) }
    }

    private static func runBlocking(_ executable: String, _ arguments: [String], input: Data) throws -> Output {
        ignoreSIGPIPE
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + arguments
        process.currentDirectoryURL = root
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Write and read on separate threads so large payloads cannot deadlock on pipe buffers.
        let writer = Thread {
            stdin.fileHandleForWriting.write(input)
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let errData = ErrorCollector(stderr.fileHandleForReading)
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: out, stderr: errData.wait())
    }

    /// `protoc --encode=<type>`: text format in, binary out.
    static func protocEncode(_ type: String, text: String) async throws -> [UInt8] {
        let out = try await run("protoc", ["-I", protoDir, "--encode=\(type)"] + protoFiles, input: Data(text.utf8))
        guard out.status == 0 else { throw ProtocFailure(message: out.stderr) }
        return [UInt8](out.stdout)
    }

    /// `protoc --decode=<type>`: binary in, text format out.
    static func protocDecode(_ type: String, bytes: [UInt8]) async throws -> String {
        let out = try await run("protoc", ["-I", protoDir, "--decode=\(type)"] + protoFiles, input: Data(bytes))
        guard out.status == 0 else { throw ProtocFailure(message: out.stderr) }
        return String(decoding: out.stdout, as: UTF8.self)
    }

    /// A child that exits before reading its stdin must not kill the test process.
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Every .proto under proto/, relative to it.
    static let protoFiles: [String] = {
        let base = root.appendingPathComponent("proto").resolvingSymlinksInPath()
        let files = FileManager.default.enumerator(atPath: base.path)?
            .compactMap { $0 as? String }.filter { $0.hasSuffix(".proto") } ?? []
        return files.sorted()
    }()
}

struct ProtocFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { "protoc failed (is protobuf-compiler installed?): \(message)" }
}

/// Drains a pipe on a background thread.
private final class ErrorCollector: @unchecked Sendable {
    // Written by the reader thread before the semaphore is signalled, read after waiting.
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }.start()
    }

    func wait() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
