import Foundation
import LOACLTestKeys

/// Certificates made by scripts/gen-test-certs.sh into a fresh temporary folder, once per test run.
struct TestCertificates: Sendable {
    let directory: String

    /// scripts/test.sh makes them before the tests start (LOACL_TEST_CERTS_DIR): making them here
    /// blocks, in this initialiser, every test that needs them on the cooperative pool.
    static let shared: TestCertificates = {
        if let made = ProcessInfo.processInfo.environment["LOACL_TEST_CERTS_DIR"] { return TestCertificates(directory: made) }
        let directory = NSTemporaryDirectory() + "loacl-tls-tests-\(getpid())-\(UUID().uuidString.prefix(8))"
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/gen-test-certs.sh").path
        let result = runProcessBlocking(["/bin/bash", script, directory], input: nil)
        precondition(result.status == 0, "gen-test-certs.sh failed: \(result.output)")
        return TestCertificates(directory: directory)
    }()

    func path(_ name: String) -> String { directory + "/" + name }

    var caFile: String { path("ca.pem") }
    var serverCertificate: String { path("server.pem") }
    var serverKey: String { path("server.key") }
    var clientCertificate: String { path("client.pem") }
    var clientKey: String { path("client.key") }
    var otherCAFile: String { path("other-ca.pem") }
    var otherClientCertificate: String { path("other-client.pem") }
    var otherClientKey: String { path("other-client.key") }
    var expiredCertificate: String { path("expired.pem") }
    var expiredKey: String { path("expired.key") }
}

/// Runs a program to completion; returns its exit status and combined output. Off the
/// cooperative pool: starting the child and waiting for it block.
@discardableResult
func runProcess(_ arguments: [String], input: String? = nil) async -> (status: Int32, output: String) {
    (try? await offCooperativePool { runProcessBlocking(arguments, input: input) }) ?? (-1, "the thread pool is shut down")
}

private func runProcessBlocking(_ arguments: [String], input: String?) -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    let stdin = Pipe()
    process.standardInput = stdin
    do { try process.run() } catch { return (-1, "\(error)") }
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try? stdin.fileHandleForWriting.close()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
