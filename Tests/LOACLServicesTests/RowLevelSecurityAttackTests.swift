import Foundation
import LOACLCore
import LOACLMessages
import Testing

/// Guest B, user B and tenant B go after everything of tenant A / guest A: by id, by list and
/// by guessing. They must get NOT_FOUND or nothing, never A's data.
@Suite("Row Level Security attack suite")
struct RowLevelSecurityAttackTests {
    struct World {
        var tenantA: Caller
        var assistant: Loacl_V1_Assistant
        var guestA: Caller
        var sessionA: Loacl_V1_Session
        var thread: Loacl_V1_Thread
        var userMessage: Loacl_V1_Message
        var reply: Loacl_V1_Message
        var suggestion: Loacl_V1_FollowUpSuggestion
        var file: Loacl_V1_File
        var question: Loacl_V1_GuidedQuestion
    }

    static func world(_ h: Harness) async throws -> World {
        let tenant = Caller.newTenant()
        let assistant = try await h.createAssistant(tenant)
        let (guest, session) = try await h.startGuest(assistant.id, fingerprint: "victim-device")
        let thread = try await h.createThread(guest, title: "secret plans")
        let file = try await h.upload(guest, thread: thread.id, bytes: Array("top secret".utf8))
        let events = try await h.send(guest, thread: thread.id, "my secret").withoutRunEvents
        guard case .userMessage(let user)? = events.first?.event, case .assistantMessage(let reply)? = events[4].event,
              case .followUps(let followUps)? = events[5].event else { throw RPCError.internal("bad events") }
        let question: Loacl_V1_CreateGuidedQuestionResponse = try await h.call(GS.createGuidedQuestion, request(Loacl_V1_CreateGuidedQuestionRequest.self) {
            $0.assistantID = assistant.id
            $0.question = "internal question"
            $0.isActive = request { $0.value = false }
        }, as: tenant)
        return World(tenantA: tenant, assistant: assistant, guestA: guest, sessionA: session, thread: thread, userMessage: user,
                     reply: reply, suggestion: followUps.suggestions[0], file: file, question: question.question)
    }

    /// Every session-scoped read and write of A's things, as `attacker`.
    static func attackAsSession(_ h: Harness, _ w: World, _ attacker: Caller, sameAssistant: Bool) async throws {
        func notFound<Req: ProtoMessage, Res: ProtoMessage>(_ m: ProtoMethodDescriptor, _ r: Req, _: Res.Type, _ line: Int = #line) async {
            let code = await h.code(m, r, as: attacker, Res.self)
            #expect(code == .notFound, "\(m.method) returned \(code?.name ?? "OK") (line \(line))")
        }
        let t = w.thread.id
        await notFound(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = t }, Loacl_V1_GetThreadResponse.self)
        await notFound(TS.updateThread, request(Loacl_V1_UpdateThreadRequest.self) { $0.id = t; $0.title = "pwned"; $0.updateMask = ["title"] }, Loacl_V1_UpdateThreadResponse.self)
        await notFound(TS.archiveThread, request(Loacl_V1_ArchiveThreadRequest.self) { $0.id = t }, Loacl_V1_ArchiveThreadResponse.self)
        await notFound(TS.deleteThread, request(Loacl_V1_DeleteThreadRequest.self) { $0.id = t }, Loacl_V1_DeleteThreadResponse.self)
        await notFound(TS.deleteThread, request(Loacl_V1_DeleteThreadRequest.self) { $0.id = t; $0.hard = true }, Loacl_V1_DeleteThreadResponse.self)
        await notFound(MS.listMessages, request(Loacl_V1_ListMessagesRequest.self) { $0.threadID = t }, Loacl_V1_ListMessagesResponse.self)
        await notFound(MS.getMessage, request(Loacl_V1_GetMessageRequest.self) { $0.id = w.userMessage.id }, Loacl_V1_GetMessageResponse.self)
        await notFound(MS.getMessage, request(Loacl_V1_GetMessageRequest.self) { $0.id = w.reply.id }, Loacl_V1_GetMessageResponse.self)
        await notFound(FS.getFile, request(Loacl_V1_GetFileRequest.self) { $0.id = w.file.id }, Loacl_V1_GetFileResponse.self)
        await notFound(FS.listFiles, request(Loacl_V1_ListFilesRequest.self) { $0.threadID = t }, Loacl_V1_ListFilesResponse.self)
        await notFound(FS.deleteFile, request(Loacl_V1_DeleteFileRequest.self) { $0.id = w.file.id }, Loacl_V1_DeleteFileResponse.self)
        await notFound(FUS.listFollowUpSuggestions, request(Loacl_V1_ListFollowUpSuggestionsRequest.self) { $0.threadID = t }, Loacl_V1_ListFollowUpSuggestionsResponse.self)
        await notFound(FUS.markFollowUpUsed, request(Loacl_V1_MarkFollowUpUsedRequest.self) { $0.id = w.suggestion.id }, Loacl_V1_MarkFollowUpUsedResponse.self)
        await notFound(US.getUsage, request(Loacl_V1_GetUsageRequest.self) { $0.threadID = t }, Loacl_V1_GetUsageResponse.self)
        await notFound(US.getUsage, request(Loacl_V1_GetUsageRequest.self) { $0.sessionID = w.sessionA.id }, Loacl_V1_GetUsageResponse.self)
        if !sameAssistant {
            await notFound(AS.getAssistant, request(Loacl_V1_GetAssistantRequest.self) { $0.id = w.assistant.id }, Loacl_V1_GetAssistantResponse.self)
            await notFound(GS.listGuidedQuestions, request(Loacl_V1_ListGuidedQuestionsRequest.self) { $0.assistantID = w.assistant.id }, Loacl_V1_ListGuidedQuestionsResponse.self)
        }
        await expectCode(.notFound) { _ = try await h.send(attacker, thread: t, "inject") }
        await expectCode(.notFound) { _ = try await h.upload(attacker, thread: t, bytes: [1]) }
        await expectCode(.notFound) { _ = try await h.download(attacker, id: w.file.id) }
        // Guessing ids finds nothing either.
        for _ in 0..<3 {
            let guess = UUID().uuidString.lowercased()
            await notFound(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = guess }, Loacl_V1_GetThreadResponse.self)
            await notFound(MS.getMessage, request(Loacl_V1_GetMessageRequest.self) { $0.id = guess }, Loacl_V1_GetMessageResponse.self)
            await notFound(FS.getFile, request(Loacl_V1_GetFileRequest.self) { $0.id = guess }, Loacl_V1_GetFileResponse.self)
        }
        // Lists show none of A's rows.
        let threads: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: attacker)
        #expect(!threads.threads.contains { $0.id == t })
        for status in [Loacl_V1_ThreadStatus.archived, .deleted] {
            let other: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, request(Loacl_V1_ListThreadsRequest.self) { $0.status = status }, as: attacker)
            #expect(!other.threads.contains { $0.id == t })
        }
        let questions: Loacl_V1_ListGuidedQuestionsResponse? = try? await h.call(GS.listGuidedQuestions, Loacl_V1_ListGuidedQuestionsRequest(), as: attacker)
        #expect(questions?.questions.contains { $0.id == w.question.id } != true, "inactive questions stay hidden")
    }

    static func expectUntouched(_ h: Harness, _ w: World) async throws {
        let thread: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = w.thread.id }, as: w.guestA)
        #expect(thread.thread.title == "secret plans" && thread.thread.status == .active)
        let file: Loacl_V1_GetFileResponse = try await h.call(FS.getFile, request(Loacl_V1_GetFileRequest.self) { $0.id = w.file.id }, as: w.guestA)
        #expect(file.file.id == w.file.id)
        let suggestions: Loacl_V1_ListFollowUpSuggestionsResponse = try await h.call(FUS.listFollowUpSuggestions, request(Loacl_V1_ListFollowUpSuggestionsRequest.self) { $0.threadID = w.thread.id }, as: w.guestA)
        #expect(suggestions.suggestions.contains { $0.id == w.suggestion.id })
        let assistant: Loacl_V1_GetAssistantResponse = try await h.call(AS.getAssistant, request(Loacl_V1_GetAssistantRequest.self) { $0.id = w.assistant.id }, as: w.tenantA)
        #expect(assistant.assistant.name == w.assistant.name)
    }

    @Test func guestAndUserOfTheSameAssistantSeeNothing() async throws {
        try await withHarness { h in
            let w = try await Self.world(h)
            let (guestB, _) = try await h.startGuest(w.assistant.id, fingerprint: "attacker-device")
            try await Self.attackAsSession(h, w, guestB, sameAssistant: true)
            let (userB, _) = try await h.startUser(w.assistant.id)
            try await Self.attackAsSession(h, w, userB, sameAssistant: true)
            try await Self.expectUntouched(h, w)
        }
    }

    @Test func sameFingerprintOnAnotherAssistantSeesNothing() async throws {
        try await withHarness { h in
            let w = try await Self.world(h)
            let other = try await h.createAssistant(Caller.newTenant())
            let (spoof, _) = try await h.startGuest(other.id, fingerprint: "victim-device")
            try await Self.attackAsSession(h, w, spoof, sameAssistant: false)
            try await Self.expectUntouched(h, w)
        }
    }

    @Test func tenantBSeesNothing() async throws {
        try await withHarness { h in
            let w = try await Self.world(h)
            let tenantB = Caller.newTenant()
            _ = try await h.createAssistant(tenantB, name: "B's own")
            func notFound<Req: ProtoMessage, Res: ProtoMessage>(_ m: ProtoMethodDescriptor, _ r: Req, _: Res.Type) async {
                let code = await h.code(m, r, as: tenantB, Res.self)
                #expect(code == .notFound, "\(m.method) returned \(code?.name ?? "OK")")
            }
            let a = w.assistant.id
            await notFound(AS.getAssistant, request(Loacl_V1_GetAssistantRequest.self) { $0.id = a }, Loacl_V1_GetAssistantResponse.self)
            await notFound(AS.updateAssistant, request(Loacl_V1_UpdateAssistantRequest.self) { $0.id = a; $0.assistant.name = "x"; $0.updateMask = ["name"] }, Loacl_V1_UpdateAssistantResponse.self)
            await notFound(AS.deleteAssistant, request(Loacl_V1_DeleteAssistantRequest.self) { $0.id = a }, Loacl_V1_DeleteAssistantResponse.self)
            await notFound(GS.createGuidedQuestion, request(Loacl_V1_CreateGuidedQuestionRequest.self) { $0.assistantID = a; $0.question = "x" }, Loacl_V1_CreateGuidedQuestionResponse.self)
            await notFound(GS.listGuidedQuestions, request(Loacl_V1_ListGuidedQuestionsRequest.self) { $0.assistantID = a }, Loacl_V1_ListGuidedQuestionsResponse.self)
            await notFound(GS.updateGuidedQuestion, request(Loacl_V1_UpdateGuidedQuestionRequest.self) { $0.id = w.question.id; $0.question.question = "x"; $0.updateMask = ["question"] }, Loacl_V1_UpdateGuidedQuestionResponse.self)
            await notFound(GS.deleteGuidedQuestion, request(Loacl_V1_DeleteGuidedQuestionRequest.self) { $0.id = w.question.id }, Loacl_V1_DeleteGuidedQuestionResponse.self)
            await notFound(US.getUsage, request(Loacl_V1_GetUsageRequest.self) { $0.assistantID = a }, Loacl_V1_GetUsageResponse.self)
            let bySession: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) { $0.sessionID = w.sessionA.id }, as: tenantB)
            #expect(bySession.totals.isEmpty)
            let byThread: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) { $0.threadID = w.thread.id }, as: tenantB)
            #expect(byThread.totals.isEmpty)
            let list: Loacl_V1_ListAssistantsResponse = try await h.call(AS.listAssistants, Loacl_V1_ListAssistantsRequest(), as: tenantB)
            #expect(list.assistants.map(\.name) == ["B's own"])
            // A tenant has no session: conversation methods are closed to it.
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = w.thread.id }, as: tenantB)
            }
            // An unregistered key owns nothing.
            let stranger: Loacl_V1_ListAssistantsResponse = try await h.call(AS.listAssistants, Loacl_V1_ListAssistantsRequest(), as: Caller.newTenant())
            #expect(stranger.assistants.isEmpty)
            try await Self.expectUntouched(h, w)
        }
    }

    @Test func expiredAndRevokedSessionsAreUnauthenticated() async throws {
        try await withHarness { h in
            let w = try await Self.world(h)
            // Expire A's session in the database (as the superuser: moves its times into the past).
            try await h.superuser("""
                UPDATE loacl.sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second'
                WHERE id = $1
                """, [w.sessionA.id])
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = w.thread.id }, as: w.guestA)
            }
            // A new live session with the same fingerprint does not see the expired session's threads.
            let (again, _) = try await h.startGuest(w.assistant.id, fingerprint: "victim-device")
            let list: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: again)
            #expect(list.threads.isEmpty)
            let _: Loacl_V1_EndSessionResponse = try await h.call(SS.endSession, Loacl_V1_EndSessionRequest(), as: again)
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: again)
            }
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_EndSessionResponse = try await h.call(SS.endSession, Loacl_V1_EndSessionRequest(), as: again)
            }
        }
    }
}
