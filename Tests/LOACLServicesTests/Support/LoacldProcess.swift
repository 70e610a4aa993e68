import Foundation

/// The real `loacld serve` binary, started as an operator would, on a Unix socket of its own.
struct LoacldProcess {
    struct Outcome {
        /// Exit status; nil when it was still serving and the test stopped it.
        var status: Int32?
        /// Whether the listener's socket appeared (loacld was serving).
        var listened: Bool
        var stderr: String
    }

    struct NoBinary: Error, CustomStringConvertible {
        var description: String { "no loacld binary next to the tests: build it (swift build --build-tests) or set LOACLD_BINARY" }
    }

    /// `LOACLD_BINARY`, else `loacld` in the build folder the tests run from.
    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["LOACLD_BINARY"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("loacld").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw NoBinary()
    }

    /// Runs `loacld serve --database-url databaseURL` (and `arguments`) until it exits or
    /// `timeout` passes; if it is serving then, stops it with SIGTERM (status nil).
    static func serve(databaseURL: String, arguments: [String] = [], timeout: Duration = .seconds(30)) async throws -> Outcome {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loacld-" + UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let socket = folder.appendingPathComponent("s").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = ["serve", "--listen", "unix:\(socket)", "--database-url", databaseURL,
                             "--storage-dir", folder.appendingPathComponent("files").path, "--log-level", "info"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging([
            "LOACL_MASTER_KEY": String(repeating: "ab", count: 32),
            "LOACL_UPSTREAM_PROVIDER": "offline",
        ]) { $1 }
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("loacld-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = FileHandle.nullDevice
        try process.run()

        var listened = false
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && !listened && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            listened = FileManager.default.fileExists(atPath: socket)
        }
        let stopped = process.isRunning
        if stopped { process.terminate() }
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        return Outcome(status: stopped ? nil : process.terminationStatus, listened: listened, stderr: stderr)
    }
}
