import Foundation
import LOACLClient
import LOACLFakeOpenAI
import LOACLMessages
import LOACLPostgres
import LOACLTestKeys
@testable import LOACLServices
import LOACLUpstream
import Synchronization
import Testing

// SendMessage's turn context cache (TurnContextCache): a thread's history held by the server is
// used while the thread's messages_version is unchanged, and a thread's next turn asks the
// upstream before PostgreSQL has checked it, keeping that request only when the context read
// under Row Level Security proves identical. Observed without clocks: a superuser connection
// holds a lock the turn's transaction needs, so the turn waits while the upstream is watched.

@Suite("SendMessage turn context: held histories and speculative upstream requests")
struct TurnContextCacheTests {
    static let deltas = ["Sure, ", "here it is."]

    @Test func aThreadsNextTurnAsksTheUpstreamWhilePostgreSQLChecksIt() async throws {
        try await withUpstream(UpstreamScript(.responses) { _ in UpstreamEndpoint.responses.reply(Self.deltas, input: 9, output: 4) }) { rig in
            let first = await rig.send("first question")
            #expect(first.error == nil, "\(String(describing: first.error))")
            #expect(rig.chatRequests.count == 1)

            let lock = try await TurnBlocker.threadRow(rig)
            let events = EventCounter()
            let second = Task {
                await rig.send("second question") { events.count.withLock { $0 += 1 } }
            }
            // The upstream gets the request while the turn's transaction waits for the lock.
            try await waitUntil { rig.chatRequests.count == 2 }
            #expect(events.count.withLock { $0 } == 0, "nothing reaches the client before the checks")
            #expect(try await rig.storedMessages().count == 2, "the user message is not stored yet")
            lock.release()

            let outcome = await second.value
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            #expect(outcome.deltas == Self.deltas)
            #expect(outcome.userMessage?.content == "second question")
            #expect(rig.chatRequests.count == 2, "the speculative request was the turn's only request")
            #expect(rig.services.turnContexts.kept.load(ordering: .relaxed) == 1)
            #expect(rig.services.turnContexts.dropped.load(ordering: .relaxed) == 0)
            // It carried the thread's history as PostgreSQL has it: both messages of turn one.
            let input = try #require(rig.chatRequests.last?.json?["input"] as? [[String: Any]])
            let texts = input.map { String(describing: $0["content"] ?? "") }
            #expect(texts.contains { $0.contains("first question") } && texts.contains { $0.contains("here it is.") })
            #expect(texts.last?.contains("second question") == true)
            #expect(try await rig.storedMessages().count == 4)
        }
    }

    @Test func aSpeculativeRequestWithAStaleContextIsDroppedForTheRealOne() async throws {
        try await withUpstream(UpstreamScript(.responses) { _ in UpstreamEndpoint.responses.reply(Self.deltas, input: 9, output: 4) }) { rig in
            #expect(await rig.send("first question").error == nil)
            // Behind this server's back: the tenant changes the instructions (another server) and a
            // message lands in the thread (another writer).
            try await rig.harness.superuser("UPDATE loacl.assistants SET instructions = 'Answer in verse.' WHERE id = (SELECT assistant_id FROM loacl.threads WHERE id = $1)", [rig.thread.id])
            try await rig.harness.superuser("INSERT INTO loacl.messages (thread_id, role, content) VALUES ($1, 'user', 'written elsewhere')", [rig.thread.id])

            let lock = try await TurnBlocker.threadRow(rig)
            let second = Task { await rig.send("second question") }
            try await waitUntil { rig.chatRequests.count == 2 } // the guess, from the cached context
            lock.release()
            let outcome = await second.value
            #expect(outcome.error == nil, "\(String(describing: outcome.error))")
            #expect(outcome.deltas == Self.deltas)
            let requests = rig.chatRequests
            try #require(requests.count == 3, "turn one, the dropped guess, the real request")
            #expect(rig.services.turnContexts.dropped.load(ordering: .relaxed) == 1)
            #expect(rig.services.turnContexts.kept.load(ordering: .relaxed) == 0)
            let guess = String(decoding: requests[1].body, as: UTF8.self)
            let real = String(decoding: requests[2].body, as: UTF8.self)
            #expect(!guess.contains("Answer in verse.") && !guess.contains("written elsewhere"))
            #expect(real.contains("Answer in verse.") && real.contains("written elsewhere") && real.contains("second question"))
            #expect(try await rig.storedMessages().count == 5)
        }
    }

    @Test func assistantsWithQuotasNeverSpeculate() async throws {
        let script = UpstreamScript(.responses) { _ in UpstreamEndpoint.responses.reply(Self.deltas, input: 9, output: 4) }
        try await withUpstream(script, assistant: { $0.configuration.messagesPerSessionPerMinute = 100 }) { rig in
            #expect(await rig.send("first question").error == nil)
            let lock = try await TurnBlocker.sendLock(rig)
            let second = Task { await rig.send("second question") }
            // The turn is waiting for the lock; give a speculative request ample time to show.
            try await Task.sleep(for: .milliseconds(300))
            #expect(rig.chatRequests.count == 1)
            lock.release()
            #expect(await second.value.error == nil)
            #expect(rig.chatRequests.count == 2)
        }
    }

    @Test func aFailedTurnForgetsTheThread() async throws {
        try await withUpstream(UpstreamScript(.responses) { n in
            n == 1 ? .status(500, body: "{}") : UpstreamEndpoint.responses.reply(Self.deltas, input: 9, output: 4)
        }, retry: RetryPolicy(maxAttempts: 1)) { rig in
            #expect(await rig.send("first").error == nil)
            #expect(await rig.send("second").error != nil) // speculated (request 1), failed upstream
            let lock = try await TurnBlocker.threadRow(rig)
            let third = Task { await rig.send("third") }
            try await Task.sleep(for: .milliseconds(300))
            #expect(rig.chatRequests.count == 2, "no speculation after a failed turn")
            lock.release()
            #expect(await third.value.error == nil)
            #expect(rig.chatRequests.count == 3)
        }
    }

    @Test func aHeldHistoryIsUsedOnlyWhileTheThreadsVersionIsUnchanged() async throws {
        try await withUpstream(UpstreamScript(.responses) { _ in UpstreamEndpoint.responses.reply(Self.deltas, input: 9, output: 4) }) { rig in
            #expect(await rig.send("first question").error == nil)
            // The request bodies that carry `question` (a dropped guess may reach the upstream
            // after the real request, so they are told apart by content, not order).
            func requests(for question: String) -> [String] {
                rig.chatRequests.map { String(decoding: $0.body, as: UTF8.self) }.filter { $0.contains(question) }
            }

            // A change that does not bump the version (its trigger disabled by the superuser) is
            // not seen: the history was not read again. This is what the bump protects against.
            try await rig.harness.superuser("ALTER TABLE loacl.messages DISABLE TRIGGER count_thread_messages_updates")
            try await rig.harness.superuser("UPDATE loacl.messages SET content = 'edited quietly' WHERE thread_id = $1 AND role = 'user'", [rig.thread.id])
            try await rig.harness.superuser("ALTER TABLE loacl.messages ENABLE TRIGGER count_thread_messages_updates")
            #expect(await rig.send("second question").error == nil)
            let second = requests(for: "second question")
            #expect(second.count == 1 && second[0].contains("first question") && !second[0].contains("edited quietly"))

            // With the trigger, any change to a message bumps the version and is read.
            let before = try #require(try await rig.harness.superuser("SELECT messages_version FROM loacl.threads WHERE id = $1", [rig.thread.id]).scalar)
            try await rig.harness.superuser("UPDATE loacl.messages SET content = 'edited openly' WHERE thread_id = $1 AND content = 'edited quietly'", [rig.thread.id])
            let after = try #require(try await rig.harness.superuser("SELECT messages_version FROM loacl.threads WHERE id = $1", [rig.thread.id]).scalar)
            #expect(Int(after)! > Int(before)!)
            #expect(await rig.send("third question").error == nil)
            let third = requests(for: "third question")
            #expect(third.filter { $0.contains("edited openly") && $0.contains("second question") }.count == 1, "the real request")
            // The guess, from the held history, if it got out before it was cancelled.
            #expect(third.allSatisfy { $0.contains("edited openly") || $0.contains("first question") })
            #expect(rig.services.turnContexts.dropped.load(ordering: .relaxed) == 1)
        }
    }

    @Test func everyChangeToAThreadsMessagesBumpsItsVersion() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (guest, _) = try await h.startGuest(assistant.id)
            let one = try await h.createThread(guest).id
            let two = try await h.createThread(guest).id
            func version(_ thread: String) async throws -> Int { Int(try await h.superuser("SELECT messages_version FROM loacl.threads WHERE id = $1", [thread]).scalar ?? "") ?? -1 }
            #expect(try await version(one) == 0)
            _ = try await h.send(guest, thread: one, "hello") // the user message and the reply
            #expect(try await version(one) == 2)
            // Many messages in one statement: one UPDATE of the thread, counting them all.
            try await h.superuser("INSERT INTO loacl.messages (thread_id, role, content) SELECT $1, 'user', 'bulk ' || i FROM generate_series(1, 5000) i", [two])
            #expect(try await version(two) == 5000)
            var last = try await version(one)
            try await h.superuser("UPDATE loacl.messages SET tokens_used = tokens_used + 1 WHERE thread_id = $1 AND role = 'user'", [one])
            #expect(try await version(one) > last)
            last = try await version(one)
            let lastTwo = try await version(two)
            try await h.superuser("UPDATE loacl.messages SET thread_id = $2 WHERE thread_id = $1 AND role = 'user'", [one, two])
            let (oneNow, twoNow) = (try await version(one), try await version(two))
            #expect(oneNow > last && twoNow > lastTwo)
            last = try await version(one)
            try await h.superuser("DELETE FROM loacl.messages WHERE thread_id = $1", [one])
            #expect(try await version(one) > last)
            try await h.superuser("DELETE FROM loacl.threads WHERE id = $1", [two]) // the cascade finds no thread to count
            #expect(try await h.superuser("SELECT count(*) FROM loacl.messages WHERE thread_id = $1", [two]).scalar == "0")
        }
    }

    // MARK: The cache itself

    @Test func theCacheKeepsFreshEntriesOfTheSameSessionOnly() {
        let cache = TurnContextCache(lifetime: .seconds(30), capacity: 3, maxBytes: 160)
        let start = ContinuousClock.now
        let context = TurnContextCache.AssistantContext(settings: AssistantSettings(), instructions: "Be brief.", guidedQuestions: [],
                                                        sealedAPIKey: nil, keyHash: [])
        cache.assistantRead("a1", context, now: start)
        cache.threadCreated("t1", sessionID: "s1", now: start)
        #expect(cache.history(threadID: "t1", sessionID: "s1", now: start) == TurnContextCache.History(rows: [], version: 0))
        #expect(cache.history(threadID: "t1", sessionID: "s2", now: start) == nil)
        #expect(cache.history(threadID: "t1", sessionID: "s1", now: start + .seconds(31)) == nil)
        #expect(cache.speculationContext(assistantID: "a1", now: start)?.instructions == "Be brief.")
        #expect(cache.speculationContext(assistantID: "a2", now: start) == nil)
        #expect(cache.speculationContext(assistantID: "a1", now: start + .seconds(31)) == nil)

        let row = TurnContextCache.HistoryRow(role: .user, content: "hello", tokens: 2)
        let history = TurnContextCache.History(rows: [row], version: 2)
        cache.turnCompleted("t1", sessionID: "s1", history: history, now: start)
        #expect(cache.history(threadID: "t1", sessionID: "s1", now: start) == history)
        cache.forget(threadID: "t1")
        #expect(cache.history(threadID: "t1", sessionID: "s1", now: start) == nil)

        // One thread's text larger than a sixteenth of the cache: not kept.
        let long = TurnContextCache.HistoryRow(role: .user, content: String(repeating: "x", count: 11), tokens: 3)
        cache.turnCompleted("t1", sessionID: "s1", history: TurnContextCache.History(rows: [long], version: 2), now: start)
        #expect(cache.history(threadID: "t1", sessionID: "s1", now: start) == nil)
        // Full (by count here): a new thread makes room by dropping stale entries, or all of them.
        for n in 2...5 { cache.threadCreated("t\(n)", sessionID: "s1", now: start) }
        #expect(cache.threadCount <= 3)
        #expect(cache.history(threadID: "t5", sessionID: "s1", now: start) != nil)

        // Assistants with quotas: their context is not offered for speculation.
        var limited = AssistantSettings()
        limited.messagesPerGuestPerDay = 5
        cache.assistantRead("a1", TurnContextCache.AssistantContext(settings: limited, instructions: "", guidedQuestions: [],
                                                                     sealedAPIKey: nil, keyHash: []), now: start)
        #expect(cache.speculationContext(assistantID: "a1", now: start) == nil)
        #expect(cache.history(threadID: "t5", sessionID: "s1", now: start) != nil, "their history is still kept")

        let off = TurnContextCache(lifetime: .zero)
        off.assistantRead("a1", context)
        off.threadCreated("t1", sessionID: "s1")
        #expect(off.history(threadID: "t1", sessionID: "s1") == nil && off.speculationContext(assistantID: "a1") == nil)
    }

    @Test func theHistoryKeptIsTheNewestRowsWithinTheBudget() {
        var settings = AssistantSettings()
        settings.maxHistoryTokens = 10
        let rows = [4, 3, 5, 1].map { TurnContextCache.HistoryRow(role: .user, content: "x", tokens: $0) }
        #expect(MessageService.withinBudget(rows, settings: settings).map(\.tokens) == [4, 3])
        settings.maxHistoryTokens = 0 // the default budget: all of them
        #expect(MessageService.withinBudget(rows, settings: settings).count == 4)
    }
}

/// A superuser connection holding a lock that a guest's next turn must wait for inside
/// PostgreSQL: the thread's row (the user message's foreign-key check needs a share lock on it),
/// or the send lock that turns of assistants with quotas take first.
struct TurnBlocker: Sendable {
    let connection: PostgresConnection

    static func threadRow(_ rig: UpstreamRig) async throws -> TurnBlocker {
        let cluster = rig.harness.cluster, database = rig.harness.databaseName, thread = rig.thread.id
        return try await onOwnThread {
            let connection = try cluster.superuserConnection(database)
            try connection.exec("BEGIN")
            try connection.execParams("SELECT 1 FROM loacl.threads WHERE id = $1 FOR UPDATE", [thread])
            return TurnBlocker(connection: connection)
        }
    }

    static func sendLock(_ rig: UpstreamRig) async throws -> TurnBlocker {
        let cluster = rig.harness.cluster, database = rig.harness.databaseName, thread = rig.thread.id
        return try await onOwnThread {
            let connection = try cluster.superuserConnection(database)
            try connection.execParams("""
                SELECT pg_advisory_lock(hashtextextended('loacl.send.guest:' || s.fingerprint, 0))
                FROM loacl.sessions s JOIN loacl.threads t ON t.session_id = s.id WHERE t.id = $1
                """, [thread])
            return TurnBlocker(connection: connection)
        }
    }

    func release() { connection.close() }
}

final class EventCounter: Sendable {
    let count = Mutex(0)
}

/// Polls `condition` every 10 ms for up to 10 s.
func waitUntil(_ condition: () throws -> Bool) async throws {
    for _ in 0..<1000 {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met within 10 s")
}
