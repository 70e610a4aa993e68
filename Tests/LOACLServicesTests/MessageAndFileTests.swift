import Foundation
import LOACLClient
import LOACLCore
import LOACLCrypto
import LOACLMessages
import Testing

@Suite("MessageService, FileService, FollowUpService, UsageService over a real socket")
struct MessageAndFileTests {
    @Test func sendMessageStreamsAndStoresTheExchange() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let assistant = try await h.createAssistant(tenant) { $0.configuration.followUpCount = request { $0.value = 2 } }
            let (guest, session) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)

            let streamed = try await h.send(guest, thread: thread.id, "How do I reset my password?\nThanks")
            // The run's own events open and close the stream; between them, the exchange.
            guard case .run(let started)? = streamed.first?.event, case .run(let ended)? = streamed.last?.event else {
                Issue.record("no run events: \(streamed)")
                return
            }
            let events = streamed.withoutRunEvents
            guard events.count == 6, case .userMessage(let user)? = events.first?.event,
                  case .assistantMessage(let reply)? = events[4].event, case .followUps(let followUps)? = events[5].event else {
                Issue.record("unexpected event sequence: \(events)")
                return
            }
            #expect(events[1...3].allSatisfy { if case .delta = $0.event { true } else { false } })
            #expect(user.role == .user && user.tokensUsed == UInt32(("How do I reset my password?\nThanks".utf8.count + 3) / 4))
            #expect(reply.role == .assistant && reply.content.hasPrefix("You said: How do I reset") && reply.tokensUsed == 7)
            #expect(reply.metadataJson.contains("offline"))
            #expect(followUps.suggestions.map(\.suggestion) == ["Tell me more", "Why is that?"])
            #expect(started.status == .inProgress && started.userMessageID == user.id && started.provider == "offline")
            #expect(ended.status == .completed && ended.replyMessageID == reply.id && ended.id == started.id)
            let numbers = streamed.map(\.sequenceNumber)
            #expect(ended.lastSequence == UInt64(streamed.count))
            #expect(numbers == Array(1...UInt64(streamed.count)))

            let titled: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = thread.id }, as: guest)
            #expect(titled.thread.title == "How do I reset my password?")

            // Second exchange sees the first as history.
            let second = try await h.send(guest, thread: thread.id, "And then?")
            if case .assistantMessage(let r)? = second[4].event { #expect(r.content.contains("history 2")) }
            // The title came from the first exchange and stays.
            let still: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = thread.id }, as: guest)
            #expect(still.thread.title == "How do I reset my password?")

            var all: [Loacl_V1_Message] = []
            var token = ""
            repeat {
                let page: Loacl_V1_ListMessagesResponse = try await h.call(MS.listMessages, request(Loacl_V1_ListMessagesRequest.self) {
                    $0.threadID = thread.id
                    $0.pageSize = 3
                    $0.pageToken = token
                }, as: guest)
                all += page.messages
                token = page.nextPageToken
            } while !token.isEmpty
            #expect(all.map(\.role) == [.user, .assistant, .user, .assistant])
            #expect(all.first?.id == user.id && all[1].id == reply.id)
            let got: Loacl_V1_GetMessageResponse = try await h.call(MS.getMessage, request(Loacl_V1_GetMessageRequest.self) { $0.id = reply.id }, as: guest)
            #expect(got.message == reply)

            let listed: Loacl_V1_ListFollowUpSuggestionsResponse = try await h.call(FUS.listFollowUpSuggestions, request(Loacl_V1_ListFollowUpSuggestionsRequest.self) {
                $0.threadID = thread.id
                $0.messageID = reply.id
            }, as: guest)
            #expect(listed.suggestions.map(\.id) == followUps.suggestions.map(\.id))
            let used: Loacl_V1_MarkFollowUpUsedResponse = try await h.call(FUS.markFollowUpUsed, request(Loacl_V1_MarkFollowUpUsedRequest.self) { $0.id = followUps.suggestions[0].id }, as: guest)
            #expect(used.suggestion.usedAtMs > 0)
            let unused: Loacl_V1_ListFollowUpSuggestionsResponse = try await h.call(FUS.listFollowUpSuggestions, request(Loacl_V1_ListFollowUpSuggestionsRequest.self) { $0.threadID = thread.id }, as: guest)
            #expect(unused.suggestions.count == 3, "two per reply, minus the used one")
            let withUsed: Loacl_V1_ListFollowUpSuggestionsResponse = try await h.call(FUS.listFollowUpSuggestions, request(Loacl_V1_ListFollowUpSuggestionsRequest.self) {
                $0.threadID = thread.id
                $0.includeUsed = true
                $0.pageSize = 3
            }, as: guest)
            #expect(withUsed.suggestions.count == 3 && !withUsed.nextPageToken.isEmpty)

            // Usage: tokens via the trigger, messages recorded by SendMessage.
            let usage: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) {
                $0.sessionID = session.id
                $0.perDay = true
            }, as: guest)
            let totals = Dictionary(uniqueKeysWithValues: usage.totals.map { ($0.metricType, $0.total) })
            #expect(totals["messages"] == 2)
            #expect(totals["tokens"] == Int64(all.reduce(0) { $0 + Int($1.tokensUsed) }))
            #expect(usage.days.count == 1)
            let tenantView: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) { $0.assistantID = assistant.id }, as: tenant)
            #expect(tenantView.totals == usage.totals)
            let filtered: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) {
                $0.threadID = thread.id
                $0.metricTypes = ["messages"]
            }, as: guest)
            #expect(filtered.totals.map(\.metricType) == ["messages"])
            let future: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) {
                $0.assistantID = assistant.id
                $0.range.startMs = Int64(Date().timeIntervalSince1970 * 1000) + 3_600_000
            }, as: tenant)
            #expect(future.totals.isEmpty)
            await expectCode(.invalidArgument) {
                let _: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) {
                    $0.assistantID = assistant.id
                    $0.sessionID = session.id
                }, as: tenant)
            }
            await expectCode(.permissionDenied) {
                let _: Loacl_V1_GetUsageResponse = try await h.call(US.getUsage, request(Loacl_V1_GetUsageRequest.self) { $0.assistantID = assistant.id }, as: guest)
            }

            await expectCode(.invalidArgument) { _ = try await h.send(guest, thread: thread.id, "") }
            await expectCode(.invalidArgument) { _ = try await h.send(guest, thread: thread.id, String(repeating: "x", count: 65 * 1024)) }
            await expectCode(.notFound) { _ = try await h.send(guest, thread: UUID().uuidString, "hello") }
            // A thread named by its creator keeps its name.
            let (other, _) = try await h.startGuest(assistant.id)
            let named = try await h.createThread(other, title: "Billing")
            _ = try await h.send(other, thread: named.id, "Where is my invoice?")
            let kept: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = named.id }, as: other)
            #expect(kept.thread.title == "Billing")
        }
    }

    @Test func quotasAndRateLimitApplyBeforeTheUpstreamCall() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let limited = try await h.createAssistant(tenant) { $0.configuration.messagesPerSessionPerMinute = 1 }
            let (guest, _) = try await h.startGuest(limited.id)
            let thread = try await h.createThread(guest)
            _ = try await h.send(guest, thread: thread.id, "one")
            await expectCode(.resourceExhausted) { _ = try await h.send(guest, thread: thread.id, "two") }

            let perGuest = try await h.createAssistant(tenant) { $0.configuration.messagesPerGuestPerDay = 1 }
            let (a, _) = try await h.startGuest(perGuest.id, fingerprint: "same-device-1")
            _ = try await h.send(a, thread: try await h.createThread(a).id, "one")
            let (b, _) = try await h.startGuest(perGuest.id, fingerprint: "same-device-1")
            await expectCode(.resourceExhausted) { _ = try await h.send(b, thread: try await h.createThread(b).id, "two") }

            let tokens = try await h.createAssistant(tenant) { $0.configuration.tokensPerSessionPerDay = 5 }
            let (c, _) = try await h.startGuest(tokens.id)
            let ct = try await h.createThread(c)
            _ = try await h.send(c, thread: ct.id, "a message long enough to use up the budget")
            await expectCode(.resourceExhausted) { _ = try await h.send(c, thread: ct.id, "more") }
            // Refused messages were not stored.
            let messages: Loacl_V1_ListMessagesResponse = try await h.call(MS.listMessages, request(Loacl_V1_ListMessagesRequest.self) { $0.threadID = ct.id }, as: c)
            #expect(messages.messages.count == 2)
        }
    }

    /// The turn's checks run in PostgreSQL (`loacl.begin_turn`): each refusal has its code and
    /// a message saying why, and stores nothing.
    @Test func refusedTurnsSayWhyAndStoreNothing() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let limited = try await h.createAssistant(tenant) { $0.configuration.messagesPerSessionPerMinute = 1 }
            let (guest, _) = try await h.startGuest(limited.id)
            let thread = try await h.createThread(guest)
            _ = try await h.send(guest, thread: thread.id, "one")
            let rate = await refusal { _ = try await h.send(guest, thread: thread.id, "two") }
            #expect(rate?.code == .resourceExhausted && rate?.message == "rate limit: 1 messages per minute per session")

            try await h.superuser("UPDATE loacl.threads SET status = 'archived' WHERE id = $1", [thread.id])
            let archived = await refusal { _ = try await h.send(guest, thread: thread.id, "three") }
            #expect(archived?.code == .failedPrecondition && archived?.message == "thread is archived")

            let elsewhere = try await h.createAssistant(tenant) { $0.configuration.provider = "openai-responses" }
            let (other, _) = try await h.startGuest(elsewhere.id)
            let otherThread = try await h.createThread(other)
            let provider = await refusal { _ = try await h.send(other, thread: otherThread.id, "hello") }
            #expect(provider?.code == .failedPrecondition
                    && provider?.message == "the assistant's provider \"openai-responses\" is not configured on this server")

            let missing = await refusal { _ = try await h.send(other, thread: thread.id, "not yours") }
            #expect(missing?.code == .notFound && missing?.message == "thread not found")

            let stored = try await h.superuser("SELECT count(*) FROM loacl.messages WHERE thread_id IN ($1, $2)", [thread.id, otherThread.id]).scalar
            #expect(stored == "2", "only the first exchange")
        }
    }

    @Test func cancelledReplyIsStoredAsIncomplete() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant()) { $0.configuration.provider = "openai-chat" }
            let (guest, _) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)
            var message = Loacl_V1_SendMessageRequest()
            message.threadID = thread.id
            message.content = "talk forever"
            // Leaving stops the run only when asked to (see RunTests for the default).
            message.cancelOnDisconnect = true
            let deltas = try await h.client.serverStreaming(MS.sendMessage, message, options: CallOptions(metadata: guest.metadata),
                                                            responseType: Loacl_V1_SendMessageEvent.self) { stream in
                var deltas = 0
                for try await event in stream {
                    if case .delta = event.event { deltas += 1 }
                    if deltas == 3 { break } // leaving the body cancels the call
                }
                return deltas
            }
            #expect(deltas == 3)
            var stored: [Loacl_V1_Message] = []
            for _ in 0..<100 {
                let list: Loacl_V1_ListMessagesResponse = try await h.call(MS.listMessages, request(Loacl_V1_ListMessagesRequest.self) { $0.threadID = thread.id }, as: guest)
                stored = list.messages
                if stored.count == 2 { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(stored.count == 2)
            #expect(stored.last?.role == .assistant && stored.last?.metadataJson.contains("\"incomplete\": true") == true
                    || stored.last?.metadataJson.contains("\"incomplete\":true") == true)
            #expect(stored.last?.content.hasPrefix("word1 word2") == true)
        }
    }

    @Test func filesUploadDownloadAttachDelete() async throws {
        try await withHarness(maxFileSize: 64 * 1024) { h in
            let (guest, _) = try await h.startGuest(try await h.createAssistant(Caller.newTenant()).id)
            let thread = try await h.createThread(guest)
            let bytes = (0..<10_000).map { UInt8($0 % 251) }
            let file = try await h.upload(guest, thread: thread.id, bytes: bytes, chunk: 3000)
            #expect(file.fileSize == 10_000 && file.sha256 == Hex.encode(SHA256.hash(bytes)) && file.threadID == thread.id)
            #expect(h.storedFiles().filter { !$0.hasPrefix(".partial") }.count == 1)

            let (record, downloaded) = try await h.download(guest, id: file.id)
            #expect(record.id == file.id && downloaded == bytes)
            let got: Loacl_V1_GetFileResponse = try await h.call(FS.getFile, request(Loacl_V1_GetFileRequest.self) { $0.id = file.id }, as: guest)
            #expect(got.file == file)
            let second = try await h.upload(guest, thread: thread.id, name: "b.txt", bytes: Array("hello".utf8))
            let list: Loacl_V1_ListFilesResponse = try await h.call(FS.listFiles, request(Loacl_V1_ListFilesRequest.self) {
                $0.threadID = thread.id
                $0.pageSize = 1
            }, as: guest)
            #expect(list.files.map(\.id) == [second.id] && !list.nextPageToken.isEmpty)

            // Attach to a message.
            let events = try await h.send(guest, thread: thread.id, "see file", fileIDs: [file.id]).withoutRunEvents
            if case .userMessage(let m)? = events.first?.event { #expect(m.fileIds == [file.id]) }
            if case .assistantMessage(let r)? = events[4].event { #expect(r.content.contains("files 1")) }
            let attached: Loacl_V1_GetFileResponse = try await h.call(FS.getFile, request(Loacl_V1_GetFileRequest.self) { $0.id = file.id }, as: guest)
            #expect(!attached.file.messageID.isEmpty)
            await expectCode(.invalidArgument) { _ = try await h.send(guest, thread: thread.id, "again", fileIDs: [file.id]) }

            // Size checks: nothing stored for a failed upload.
            let before = h.storedFiles().filter { !$0.hasPrefix(".partial") }.count
            await expectCode(.invalidArgument) { _ = try await h.upload(guest, thread: thread.id, bytes: [1, 2, 3], declared: 2) }
            await expectCode(.invalidArgument) { _ = try await h.upload(guest, thread: thread.id, bytes: [1, 2, 3], declared: 10) }
            await expectCode(.invalidArgument) { _ = try await h.upload(guest, thread: thread.id, bytes: [], declared: 70_000) }
            await expectCode(.invalidArgument) { _ = try await h.upload(guest, thread: thread.id, name: "a/b", bytes: [1]) }
            #expect(h.storedFiles().count == before, "no partial or stored bytes left: \(h.storedFiles())")
            #expect(try await h.superuser("SELECT count(*) FROM loacl.files").scalar == "2")

            let _: Loacl_V1_DeleteFileResponse = try await h.call(FS.deleteFile, request(Loacl_V1_DeleteFileRequest.self) { $0.id = second.id }, as: guest)
            #expect(h.storedFiles().count == before - 1)
            await expectCode(.notFound) {
                let _: Loacl_V1_GetFileResponse = try await h.call(FS.getFile, request(Loacl_V1_GetFileRequest.self) { $0.id = second.id }, as: guest)
            }
            // Hard thread delete removes the remaining stored bytes.
            let _: Loacl_V1_DeleteThreadResponse = try await h.call(TS.deleteThread, request(Loacl_V1_DeleteThreadRequest.self) {
                $0.id = thread.id
                $0.hard = true
            }, as: guest)
            #expect(h.storedFiles().isEmpty)
        }
    }

    @Test func abortedUploadLeavesNothing() async throws {
        try await withHarness { h in
            let (guest, _) = try await h.startGuest(try await h.createAssistant(Caller.newTenant()).id)
            let thread = try await h.createThread(guest)
            struct Abort: Error {}
            await #expect(throws: (any Error).self) {
                _ = try await h.client.clientStreaming(
                    FS.uploadFile, options: CallOptions(metadata: guest.metadata),
                    requestType: Loacl_V1_UploadFileRequest.self, responseType: Loacl_V1_UploadFileResponse.self
                ) { writer in
                    try await writer.write(request { $0.header = request { $0.threadID = thread.id; $0.filename = "x"; $0.fileType = "text/plain"; $0.declaredSize = 100 } })
                    try await writer.write(request { $0.chunk = [UInt8](repeating: 1, count: 50) })
                    try await Task.sleep(for: .milliseconds(100))
                    throw Abort()
                }
            }
            var left = h.storedFiles()
            for _ in 0..<100 where !left.isEmpty {
                try await Task.sleep(for: .milliseconds(20))
                left = h.storedFiles()
            }
            #expect(left.isEmpty)
            #expect(try await h.superuser("SELECT count(*) FROM loacl.files").scalar == "0")
        }
    }

    @Test func guidedQuestions() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let assistant = try await h.createAssistant(tenant)
            var ids: [String] = []
            for (text, priority, active) in [("Low", 1, true), ("High", 9, true), ("Hidden", 5, false), ("Mid", 5, true)] {
                let r: Loacl_V1_CreateGuidedQuestionResponse = try await h.call(GS.createGuidedQuestion, request(Loacl_V1_CreateGuidedQuestionRequest.self) {
                    $0.assistantID = assistant.id
                    $0.question = text
                    $0.priority = Int32(priority)
                    $0.isActive = request { $0.value = active }
                }, as: tenant)
                ids.append(r.question.id)
            }
            let all: Loacl_V1_ListGuidedQuestionsResponse = try await h.call(GS.listGuidedQuestions, request(Loacl_V1_ListGuidedQuestionsRequest.self) {
                $0.assistantID = assistant.id
                $0.includeInactive = true
                $0.pageSize = 2
            }, as: tenant)
            #expect(all.questions.map(\.question) == ["High", all.questions.last?.question ?? ""] && !all.nextPageToken.isEmpty)
            let rest: Loacl_V1_ListGuidedQuestionsResponse = try await h.call(GS.listGuidedQuestions, request(Loacl_V1_ListGuidedQuestionsRequest.self) {
                $0.assistantID = assistant.id
                $0.includeInactive = true
                $0.pageSize = 2
                $0.pageToken = all.nextPageToken
            }, as: tenant)
            #expect(Set((all.questions + rest.questions).map(\.question)) == ["High", "Mid", "Hidden", "Low"])
            #expect(rest.questions.last?.question == "Low")

            let (guest, _) = try await h.startGuest(assistant.id)
            let seen: Loacl_V1_ListGuidedQuestionsResponse = try await h.call(GS.listGuidedQuestions, Loacl_V1_ListGuidedQuestionsRequest(), as: guest)
            #expect(seen.questions.map(\.question) == ["High", "Mid", "Low"])

            let updated: Loacl_V1_UpdateGuidedQuestionResponse = try await h.call(GS.updateGuidedQuestion, request(Loacl_V1_UpdateGuidedQuestionRequest.self) {
                $0.id = ids[2]
                $0.question.isActive = true
                $0.question.priority = 10
                $0.updateMask = ["is_active", "priority"]
            }, as: tenant)
            #expect(updated.question.isActive && updated.question.priority == 10 && updated.question.question == "Hidden")
            let _: Loacl_V1_DeleteGuidedQuestionResponse = try await h.call(GS.deleteGuidedQuestion, request(Loacl_V1_DeleteGuidedQuestionRequest.self) { $0.id = ids[0] }, as: tenant)
            let after: Loacl_V1_ListGuidedQuestionsResponse = try await h.call(GS.listGuidedQuestions, Loacl_V1_ListGuidedQuestionsRequest(), as: guest)
            #expect(after.questions.map(\.question) == ["Hidden", "High", "Mid"])
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_CreateGuidedQuestionResponse = try await h.call(GS.createGuidedQuestion, request(Loacl_V1_CreateGuidedQuestionRequest.self) {
                    $0.assistantID = assistant.id
                    $0.question = "x"
                }, as: guest)
            }
            await expectCode(.invalidArgument) {
                let _: Loacl_V1_CreateGuidedQuestionResponse = try await h.call(GS.createGuidedQuestion, request(Loacl_V1_CreateGuidedQuestionRequest.self) {
                    $0.assistantID = assistant.id
                    $0.question = ""
                }, as: tenant)
            }
        }
    }
}
