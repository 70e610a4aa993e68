import Foundation
import LOACLCore
import LOACLMessages
@testable import LOACLServices
import Testing

@Suite("SessionService and ThreadService over a real socket")
struct SessionAndThreadTests {
    @Test func guestSessionLifecycle() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let assistant = try await h.createAssistant(tenant) { $0.configuration.guestSessionTtlSeconds = 600 }
            let (guest, session) = try await h.startGuest(assistant.id, fingerprint: "device-12345")
            #expect(session.type == .guest && session.status == .active && session.fingerprint == "device-12345")
            #expect(session.expiresAtMs - session.createdAtMs == 600_000)

            let got: Loacl_V1_GetSessionResponse = try await h.call(SS.getSession, Loacl_V1_GetSessionRequest(), as: guest)
            #expect(got.session.id == session.id)
            let refreshed: Loacl_V1_RefreshSessionResponse = try await h.call(SS.refreshSession, Loacl_V1_RefreshSessionRequest(), as: guest)
            #expect(refreshed.session.expiresAtMs >= session.expiresAtMs)

            // A session reads its own assistant's public face only.
            let seen: Loacl_V1_GetAssistantResponse = try await h.call(AS.getAssistant, request(Loacl_V1_GetAssistantRequest.self) { $0.id = assistant.id }, as: guest)
            #expect(seen.assistant.name == assistant.name && seen.assistant.instructions.isEmpty)
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_ListAssistantsResponse = try await h.call(AS.listAssistants, Loacl_V1_ListAssistantsRequest(), as: guest)
            }

            let _: Loacl_V1_EndSessionResponse = try await h.call(SS.endSession, Loacl_V1_EndSessionRequest(), as: guest)
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_GetSessionResponse = try await h.call(SS.getSession, Loacl_V1_GetSessionRequest(), as: guest)
            }
            // Token stored only hashed.
            let stored = try await h.superuser("SELECT count(*) FROM loacl.sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
                                         [{ if case .session(let t) = guest { t } else { "" } }()]).scalar
            #expect(stored == "1")
        }
    }

    /// last_active_at is refreshed by a call once it is older than the touch interval (60 s),
    /// not on every call.
    @Test func staleLastActiveAtIsRefreshedByTheNextCall() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (guest, session) = try await h.startGuest(assistant.id)
            try await h.superuser("UPDATE loacl.sessions SET last_active_at = now() - interval '1 hour' WHERE id = $1", [session.id])
            let _: Loacl_V1_GetSessionResponse = try await h.call(SS.getSession, Loacl_V1_GetSessionRequest(), as: guest)
            let age = try await h.superuser("SELECT extract(epoch FROM now() - last_active_at)::int FROM loacl.sessions WHERE id = $1", [session.id]).scalar
            #expect(Int(age ?? "") ?? 3600 < 60, "last_active_at is \(age ?? "?") s old")
        }
    }

    /// Calls reuse a resolved session from the interceptor's cache, but PostgreSQL checks in each
    /// call's transaction that it is still live: a session revoked, expired or deleted behind
    /// the server's back (another server, the sweeper, an operator) is refused by its next call.
    @Test(arguments: [
        "UPDATE loacl.sessions SET status = 'revoked' WHERE id = $1",
        "UPDATE loacl.sessions SET created_at = now() - interval '1 hour', expires_at = now() - interval '1 second' WHERE id = $1",
        "DELETE FROM loacl.sessions WHERE id = $1",
    ])
    func cachedSessionIsCheckedLiveByPostgreSQL(change: String) async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (guest, session) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)
            let cache = h.services.authInterceptor.sessions
            #expect(cache.count == 1, "the session is cached after its first call")
            let list = request(Loacl_V1_ListMessagesRequest.self) { $0.threadID = thread.id }
            let _: Loacl_V1_ListMessagesResponse = try await h.call(MS.listMessages, list, as: guest)

            try await h.superuser(change, [session.id])
            #expect(cache.count == 1, "still cached: the server was not told")
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_ListMessagesResponse = try await h.call(MS.listMessages, list, as: guest)
            }
            #expect(cache.count == 0, "a refused session leaves the cache")
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_CreateThreadResponse = try await h.call(TS.createThread, Loacl_V1_CreateThreadRequest(), as: guest)
            }
            await expectCode(.unauthenticated) { _ = try await h.send(guest, thread: thread.id, "hello?") }
        }
    }

    /// An authenticated user sees the threads of all its sessions, so the policies alone would
    /// still show a revoked session's threads: the liveness check is what refuses it.
    @Test func revokedUserSessionReadsNothingEvenWhenCached() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (user, session) = try await h.startUser(assistant.id)
            let thread = try await h.createThread(user)
            let get = request(Loacl_V1_GetThreadRequest.self) { $0.id = thread.id }
            let _: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, get, as: user)
            try await h.superuser("UPDATE loacl.sessions SET status = 'revoked' WHERE id = $1", [session.id])
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, get, as: user)
            }
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: user)
            }
        }
    }

    @Test func sessionErrors() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            func start(_ configure: (inout Loacl_V1_StartGuestSessionRequest) -> Void) async -> StatusCode? {
                var r = Loacl_V1_StartGuestSessionRequest()
                r.assistantID = assistant.id
                r.fingerprint = "fingerprint-1"
                configure(&r)
                return await h.code(SS.startGuestSession, r, as: .anonymous, Loacl_V1_StartSessionResponse.self)
            }
            #expect(await start { _ in } == nil)
            #expect(await start { $0.fingerprint = "short" } == .invalidArgument)
            #expect(await start { $0.fingerprint = "has space in it" } == .invalidArgument)
            #expect(await start { $0.assistantID = UUID().uuidString } == .notFound)
            #expect(await start { $0.assistantID = "" } == .invalidArgument)
            #expect(await start { $0.metadataJson = "1" } == .invalidArgument)

            func startUser(_ jwt: String) async -> StatusCode? {
                var r = Loacl_V1_StartAuthenticatedSessionRequest()
                r.assistantID = assistant.id
                r.jwt = jwt
                return await h.code(SS.startAuthenticatedSession, r, as: .anonymous, Loacl_V1_StartSessionResponse.self)
            }
            #expect(await startUser(Harness.jwt(sub: UUID().uuidString, expiresIn: 600)) == nil)
            #expect(await startUser(Harness.jwt(sub: UUID().uuidString, expiresIn: -600)) == .unauthenticated)
            #expect(await startUser(Harness.jwt(sub: "not-a-uuid", expiresIn: 600)) == .unauthenticated)
            #expect(await startUser("a.b.c") == .unauthenticated)
            #expect(await startUser("") == .invalidArgument)

            for token in ["", "x", String(repeating: "A", count: 43), "%%%"] {
                await expectCode(.unauthenticated) {
                    let _: Loacl_V1_GetSessionResponse = try await h.call(SS.getSession, Loacl_V1_GetSessionRequest(), as: .session(token))
                }
            }
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_GetSessionResponse = try await h.call(SS.getSession, Loacl_V1_GetSessionRequest(), as: .anonymous)
            }
        }
    }

    @Test func threadsLifecycleAndPaging() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let (guest, session) = try await h.startGuest(assistant.id)
            let first = try await h.createThread(guest, title: "First")
            #expect(first.sessionID == session.id && first.assistantID == assistant.id && first.status == .active)
            var ids = [first.id]
            for _ in 0..<4 { ids.append(try await h.createThread(guest).id) }

            var listed: [Loacl_V1_Thread] = []
            var token = ""
            repeat {
                let page: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, request(Loacl_V1_ListThreadsRequest.self) {
                    $0.pageSize = 2
                    $0.pageToken = token
                }, as: guest)
                listed += page.threads
                token = page.nextPageToken
            } while !token.isEmpty
            #expect(listed.map(\.id) == ids.reversed(), "newest first, every thread once")

            let renamed: Loacl_V1_UpdateThreadResponse = try await h.call(TS.updateThread, request(Loacl_V1_UpdateThreadRequest.self) {
                $0.id = first.id
                $0.title = "Renamed"
                $0.metadataJson = #"{"pinned":true}"#
                $0.updateMask = ["title", "metadata_json"]
            }, as: guest)
            #expect(renamed.thread.title == "Renamed" && renamed.thread.metadataJson.contains("pinned"))

            let archived: Loacl_V1_ArchiveThreadResponse = try await h.call(TS.archiveThread, request(Loacl_V1_ArchiveThreadRequest.self) { $0.id = first.id }, as: guest)
            #expect(archived.thread.status == .archived)
            let onlyArchived: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, request(Loacl_V1_ListThreadsRequest.self) { $0.status = .archived }, as: guest)
            #expect(onlyArchived.threads.map(\.id) == [first.id])
            await expectCode(.failedPrecondition) { _ = try await h.send(guest, thread: first.id, "hi") }

            let _: Loacl_V1_DeleteThreadResponse = try await h.call(TS.deleteThread, request(Loacl_V1_DeleteThreadRequest.self) { $0.id = ids[1] }, as: guest)
            let deleted: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, request(Loacl_V1_ListThreadsRequest.self) { $0.status = .deleted }, as: guest)
            #expect(deleted.threads.map(\.id) == [ids[1]])
            let visible: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: guest)
            #expect(!visible.threads.map(\.id).contains(ids[1]))
            await expectCode(.failedPrecondition) {
                let _: Loacl_V1_UpdateThreadResponse = try await h.call(TS.updateThread, request(Loacl_V1_UpdateThreadRequest.self) {
                    $0.id = ids[1]
                    $0.title = "x"
                    $0.updateMask = ["title"]
                }, as: guest)
            }

            let _: Loacl_V1_DeleteThreadResponse = try await h.call(TS.deleteThread, request(Loacl_V1_DeleteThreadRequest.self) {
                $0.id = ids[2]
                $0.hard = true
            }, as: guest)
            await expectCode(.notFound) {
                let _: Loacl_V1_GetThreadResponse = try await h.call(TS.getThread, request(Loacl_V1_GetThreadRequest.self) { $0.id = ids[2] }, as: guest)
            }
            #expect(try await h.superuser("SELECT count(*) FROM loacl.threads WHERE id = $1", [ids[2]]).scalar == "0")

            await expectCode(.invalidArgument) {
                let _: Loacl_V1_CreateThreadResponse = try await h.call(TS.createThread, request(Loacl_V1_CreateThreadRequest.self) { $0.title = String(repeating: "t", count: 201) }, as: guest)
            }
            await expectCode(.invalidArgument) {
                let _: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, request(Loacl_V1_ListThreadsRequest.self) { $0.status = Loacl_V1_ThreadStatus(rawValue: 9) }, as: guest)
            }
            await expectCode(.unauthenticated) {
                let _: Loacl_V1_CreateThreadResponse = try await h.call(TS.createThread, Loacl_V1_CreateThreadRequest(), as: Caller.newTenant())
            }
        }
    }

    @Test func userSeesThreadsOfAllItsSessions() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant())
            let user = UUID().uuidString.lowercased()
            let (first, _) = try await h.startUser(assistant.id, userID: user)
            let thread = try await h.createThread(first, title: "from session 1")
            let _: Loacl_V1_EndSessionResponse = try await h.call(SS.endSession, Loacl_V1_EndSessionRequest(), as: first)
            let (second, _) = try await h.startUser(assistant.id, userID: user)
            let list: Loacl_V1_ListThreadsResponse = try await h.call(TS.listThreads, Loacl_V1_ListThreadsRequest(), as: second)
            #expect(list.threads.map(\.id) == [thread.id])
            await expectCode(.failedPrecondition) {
                let _: Loacl_V1_RefreshSessionResponse = try await h.call(SS.refreshSession, Loacl_V1_RefreshSessionRequest(), as: second)
            }
        }
    }
}
