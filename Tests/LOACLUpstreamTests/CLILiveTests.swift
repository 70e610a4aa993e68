import Foundation
import LOACLTestKeys
import Testing

/// The `loacl` CLI against a live LOACL server whose assistants use the offline provider:
/// create an assistant and a guided question, chat one turn with `--message`, list the stored
/// messages, and check a failed call reads well.
///
/// Needs a running loacld with the data services and a tenant:
///   LOACL_CLI_TEST_SERVER   e.g. tcp:127.0.0.1:7700
///   LOACL_CLI_TEST_API_KEY  the tenant's API key
///   LOACL_CLI_BINARY        optional path of `loacl` (default: next to this test bundle)
/// Without them the test fails and says so (see docs/CLI.md, "Testing").
@Suite struct CLILiveTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func binary() -> String? {
        if let path = ProcessInfo.processInfo.environment["LOACL_CLI_BINARY"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("loacl").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// Runs the CLI to its end on a Dispatch thread (a chat turn takes a while; waiting for it on
    /// the cooperative pool would hold one of the threads every test shares).
    static func run(_ binary: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> Run {
        try await offCooperativePool { try runBlocking(binary, arguments, environment: environment) }
    }

    private static func runBlocking(_ binary: String, _ arguments: [String], environment: [String: String]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func chatOneTurnWithTheOfflineProvider() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let server = env["LOACL_CLI_TEST_SERVER"], let apiKey = env["LOACL_CLI_TEST_API_KEY"] else {
            Issue.record("""
                CLI live test not run: it needs a live loacld with the data services. Set \
                LOACL_CLI_TEST_SERVER (e.g. tcp:127.0.0.1:7700) and LOACL_CLI_TEST_API_KEY (a tenant key); \
                see docs/CLI.md, "Testing".
                """)
            return
        }
        let loacl = try #require(Self.binary(), "no loacl binary next to the tests; build it (swift build --product loacl) or set LOACL_CLI_BINARY")
        let common = ["--server", server]
        let tenant = ["LOACL_API_KEY": apiKey]

        let created = try await Self.run(loacl, ["assistants", "create", "--name", "CLI test gardener", "--provider", "offline",
                                           "--instructions", "You are a gardening assistant for balcony growers.",
                                           "--follow-up-count", "3"] + common, environment: tenant)
        #expect(created.status == 0, "\(created.stderr)")
        let assistantID = try #require(created.stdout.split(separator: " ").first.map(String.init))
        #expect(UUID(uuidString: assistantID) != nil, "assistants create printed \(created.stdout)")

        let question = try await Self.run(loacl, ["questions", "create", "--assistant", assistantID,
                                            "--question", "How do I water tomatoes in hot weather?", "--priority", "5"] + common,
                                    environment: tenant)
        #expect(question.status == 0, "\(question.stderr)")

        let chat = try await Self.run(loacl, ["chat", "--assistant", assistantID, "--fingerprint", "cli-live-test-device",
                                        "--message", "How often should I water tomatoes on a balcony?"] + common)
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(chat.stdout.contains("Offline mode"))
        #expect(chat.stdout.contains("water tomatoes on a balcony"))
        #expect(chat.stdout.contains("Follow-ups:\n  1. How do I water tomatoes in hot weather?"))
        #expect(chat.stderr.contains("[offline"))

        // The session token and thread id the chat printed let a script continue.
        let lines = chat.stderr.split(separator: "\n").map(String.init)
        let token = try #require(lines.first { $0.hasPrefix("session token") }?.split(separator: " ").last.map(String.init))
        let thread = try #require(lines.first { $0.hasPrefix("thread ") }?.split(separator: " ").last.map(String.init))
        let messages = try await Self.run(loacl, ["messages", "list", "--thread", thread, "--session-token", token] + common)
        #expect(messages.status == 0, "\(messages.stderr)")
        #expect(messages.stdout.contains("] user ("))
        #expect(messages.stdout.contains("] assistant ("))

        let missing = try await Self.run(loacl, ["assistants", "get", UUID().uuidString.lowercased()] + common, environment: tenant)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("NOT_FOUND (5)"))

        _ = try await Self.run(loacl, ["assistants", "delete", assistantID] + common, environment: tenant)
    }

    /// `file_search` from a terminal: a knowledge file uploaded with `assistants files upload`,
    /// found by a chat turn whose words are in it, listed with its source.
    @Test func chatListsTheFileSearchHitsWithTheirSource() async throws {
        let env = ProcessInfo.processInfo.environment
        guard let server = env["LOACL_CLI_TEST_SERVER"], let apiKey = env["LOACL_CLI_TEST_API_KEY"] else {
            Issue.record("CLI live test not run: set LOACL_CLI_TEST_SERVER and LOACL_CLI_TEST_API_KEY (docs/CLI.md, \"Testing\")")
            return
        }
        let loacl = try #require(Self.binary(), "no loacl binary next to the tests; build it (swift build --product loacl) or set LOACL_CLI_BINARY")
        let common = ["--server", server]
        let tenant = ["LOACL_API_KEY": apiKey]
        let created = try await Self.run(loacl, ["assistants", "create", "--name", "CLI file search", "--provider", "offline",
                                           "--tool", "file_search"] + common, environment: tenant)
        #expect(created.status == 0, "\(created.stderr)")
        let assistantID = try #require(created.stdout.split(separator: " ").first.map(String.init))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loacl-cli-" + UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let guide = folder.appendingPathComponent("compost-guide.md")
        try "# Compost\n\nA wormery turns kitchen peelings into vermicompost within three months.\n".write(to: guide, atomically: true, encoding: .utf8)
        let uploaded = try await Self.run(loacl, ["assistants", "files", "upload", "--assistant", assistantID, guide.path] + common,
                                    environment: tenant)
        #expect(uploaded.status == 0, "\(uploaded.stderr)")

        let chat = try await Self.run(loacl, ["chat", "--assistant", assistantID, "--fingerprint", "cli-live-test-search",
                                        "--message", "How long does a wormery take to make vermicompost?"] + common)
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(chat.stderr.contains("[1] compost-guide.md #0 (knowledge)"), "\(chat.stderr)")
        _ = try? await Self.run(loacl, ["assistants", "delete", assistantID] + common, environment: tenant)
    }
}
