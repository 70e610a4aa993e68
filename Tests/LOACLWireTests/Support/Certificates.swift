import Foundation

/// TLS material from scripts/gen-test-certs.sh, made once per test process in a temp folder.
struct Certificates: Sendable {
    let directory: String
    func path(_ name: String) -> String { directory + "/" + name }

    /// scripts/test.sh makes them before the tests start (LOACL_TEST_CERTS_DIR): making them here
    /// blocks, in this initialiser, every test that needs them on the cooperative pool.
    static let shared: Certificates = {
        if let made = ProcessInfo.processInfo.environment["LOACL_TEST_CERTS_DIR"] { return Certificates(directory: made) }
        let directory = NSTemporaryDirectory() + "loacl-wire-certs-\(getpid())"
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/gen-test-certs.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, directory]
        process.standardOutput = FileHandle.nullDevice
        try! process.run()
        process.waitUntilExit()
        precondition(process.terminationStatus == 0, "gen-test-certs.sh failed")
        return Certificates(directory: directory)
    }()
}
