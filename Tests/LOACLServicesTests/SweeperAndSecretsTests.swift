import Foundation
import LOACLCore
import LOACLMessages
import LOACLServices
import LOACLTestKeys
import Testing

@Suite("Sweeper, API key secrecy")
struct SweeperAndSecretsTests {
    @Test func sweeperExpiresThenPurgesGuestData() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (old, oldSession) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(old)
            _ = try await h.upload(old, thread: thread.id, bytes: [1, 2, 3])
            _ = try await h.send(old, thread: thread.id, "hello")
            let (fresh, freshSession) = try await h.startGuest(assistant.id)
            _ = try await h.createThread(fresh)
            #expect(h.storedFiles().count == 1)

            try await h.superuser("UPDATE loacl.sessions SET created_at = now() - interval '10 days', expires_at = now() - interval '9 days' WHERE id = $1",
                            [oldSession.id])
            let keep = h.services.sweeper(.init(retention: .seconds(30 * 86_400)))
            let first = try await keep.sweep()
            #expect(first == .init(expired: 1, purged: 0))
            #expect(try await h.superuser("SELECT status FROM loacl.sessions WHERE id = $1", [oldSession.id]).scalar == "expired")

            let purge = h.services.sweeper(.init(retention: .seconds(86_400), batchSize: 1))
            let second = try await purge.sweep()
            #expect(second == .init(expired: 0, purged: 1))
            #expect(try await h.superuser("SELECT count(*) FROM loacl.sessions WHERE id = $1", [oldSession.id]).scalar == "0")
            #expect(try await h.superuser("SELECT count(*) FROM loacl.threads WHERE id = $1", [thread.id]).scalar == "0")
            #expect(try await h.superuser("SELECT count(*) FROM loacl.messages").scalar == "0")
            #expect(h.storedFiles().isEmpty)
            // Usage totals survive the purge (session/thread references become NULL).
            #expect(try await h.superuser("SELECT sum(metric_value) FROM loacl.usage_metrics WHERE metric_type = 'messages'").scalar == "1")
            // The live session is untouched.
            let got: Loacl_V1_GetSessionResponse = try await h.call(SS.getSession, Loacl_V1_GetSessionRequest(), as: fresh)
            #expect(got.session.id == freshSession.id)
        }
    }

    @Test func apiKeyNeverStoredOrLoggedInPlaintext() async throws {
        try await withHarness { h in
            let key = "sk-live-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
            let tenant = Caller.tenant(key)
            let assistant = try await h.createAssistant(tenant)
            _ = try await h.createAssistant(tenant, name: "second")
            let _: Loacl_V1_ListAssistantsResponse = try await h.call(AS.listAssistants, Loacl_V1_ListAssistantsRequest(), as: tenant)
            await expectCode(.invalidArgument) { _ = try await h.createAssistant(tenant, name: "") }
            let (guest, _) = try await h.startGuest(assistant.id)
            _ = try await h.send(guest, thread: try await h.createThread(guest).id, "hi")
            #expect(try await h.superuser("SELECT count(*) FROM loacl.tenants").scalar == "1")
            #expect(try await h.superuser("SELECT key_hint FROM loacl.tenants").scalar == "sk-..." + String(key.suffix(4)))

            let dump = try await offCooperativePool { try Self.pgDump(h) }
            #expect(dump.contains("loacl.tenants") || dump.contains("tenants"))
            #expect(!dump.contains(key))
            #expect(!dump.contains(String(key.dropFirst(3).prefix(20))))
            let hexKey = key.utf8.map { String(format: "%02x", $0) }.joined()
            #expect(!dump.contains(hexKey))

            let logs = h.logs.lines.withLockedValue { $0 }
            #expect(!logs.isEmpty)
            #expect(!logs.contains { $0.contains(key) || $0.contains(String(key.dropFirst(3).prefix(20))) })
        }
    }

    static func pgDump(_ h: Harness) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/lib/postgresql/15/bin/pg_dump")
        process.arguments = ["-h", h.cluster.host, "-p", h.cluster.port, "-U", h.cluster.superuser, "--no-password", h.databaseName]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw RPCError.internal("pg_dump failed: \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
}
