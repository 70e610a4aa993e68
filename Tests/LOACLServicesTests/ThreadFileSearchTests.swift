import Foundation
import LOACLClient
import LOACLCore
import LOACLFakeOpenAI
import LOACLMessages
import LOACLPostgres
@testable import LOACLServices
import Testing

// Text attachments of a thread are searched by `file_search` runs in that thread (migration
// 0016): indexed when their upload completes, ranked together with the assistant's knowledge,
// invisible from other threads, sessions and tenants, gone with the file.

/// A Markdown attachment of three chunks (sections of about 900 characters, the title with the
/// first), the heater's section second (chunk 1).
let greenhouseNotes = (["# Greenhouse notes"] + [
    "## Vents\nThe roof vents open by themselves above 26 degrees.",
    "## Heater\nThe greenhouse heater is set to 12 degrees at night and switches off at sunrise.",
    "## Seedlings\nSeedlings stay on the top shelf, under the grow lights, for three weeks.",
].map { $0 + "\n" + String(repeating: "Filler words about nothing much. ", count: 25) }).joined(separator: "\n\n")

let heaterQuestion = "What temperature is the greenhouse heater set to at night?"

extension [Loacl_V1_SendMessageEvent] {
    /// The hits of the run's `file_search` event.
    var fileSearchHits: [Loacl_V1_FileSearchHit] {
        flatMap { event -> [Loacl_V1_FileSearchHit] in if case .fileSearch(let r)? = event.event { r.hits } else { [] } }
    }
}

extension RunRig {
    /// SendMessage as `caller` in `thread` (another than the rig's), read to the end.
    func send(_ text: String, thread: String, as caller: Caller) async throws -> [Loacl_V1_SendMessageEvent] {
        var request = Loacl_V1_SendMessageRequest()
        request.threadID = thread
        request.content = text
        return try await a.client.serverStreaming(MS.sendMessage, request, options: options(caller),
                                                  responseType: Loacl_V1_SendMessageEvent.self) { try await Self.collect($0, until: { _ in false }) }
    }
}

@Suite("Thread attachments in file search")
struct ThreadFileSearchTests {
    @Test func aThreadsTextAttachmentsAreSearchedInThatThreadAndCited() async throws {
        try await withRuns(.responses, reply: { _ in UpstreamEndpoint.responses.reply(["Twelve ", "degrees [1]."], input: 80, output: 4) },
                           assistant: { $0.toolsEnabled = ["file_search"]; $0.configuration.fileSearchTopK = 10 }) { rig in
            let h = rig.harness
            let tenant = try await rig.assistantTenant()
            let guide = try await h.uploadKnowledge(tenant.caller, assistant: tenant.assistantID, name: "guide.md",
                                                    type: "text/markdown", bytes: Array(gardenGuide.utf8))
            let notes = try await h.upload(rig.guest, thread: rig.thread.id, name: "notes.md", type: "text/markdown",
                                           bytes: Array(greenhouseNotes.utf8))
            func chunks(_ file: String) async throws -> String? {
                try await h.superuser("SELECT count(*) FROM loacl.file_chunks WHERE file_id = $1", [file]).scalar
            }
            #expect(try await chunks(notes.id) == "3")
            // Not text to file search: stored, not indexed, not an error.
            let binary = try await h.upload(rig.guest, thread: rig.thread.id, name: "thermostat.bin", type: "application/octet-stream",
                                            bytes: Array("thermostat calibration table".utf8))
            let notUTF8 = try await h.upload(rig.guest, thread: rig.thread.id, name: "latin1.txt", type: "text/plain",
                                             bytes: Array("thermostat ".utf8) + [0xE9, 0xFF])
            let (binaryChunks, notUTF8Chunks) = (try await chunks(binary.id), try await chunks(notUTF8.id))
            #expect(binaryChunks == "0" && notUTF8Chunks == "0")
            let pdf = try await h.upload(rig.guest, thread: rig.thread.id, name: "sun.pdf", type: "application/pdf",
                                         bytes: onePagePDF("Cucumbers climb the trellis by the door."))
            #expect(try await chunks(pdf.id) == "1")

            // The run in the thread finds the attachment's right chunk, gives it to the model and cites it.
            let events = try await rig.send(heaterQuestion, on: rig.a.client)
            let hits = events.fileSearchHits
            let first = try #require(hits.first)
            #expect(first.fileID == notes.id && first.filename == "notes.md" && first.chunkIndex == 1 && first.source == .thread)
            #expect(first.text.contains("12 degrees at night") && first.score > 0)
            let upstreamRequest = try #require(rig.upstream.requests.last { !$0.asksForFollowUps })
            #expect((upstreamRequest.json?["instructions"] as? String)?.contains("12 degrees at night") == true)
            let replies = events.compactMap { event -> Loacl_V1_Message? in if case .assistantMessage(let m)? = event.event { m } else { nil } }
            let reply = try #require(replies.first)
            let metadata = try #require(try JSONSerialization.jsonObject(with: Data(reply.metadataJson.utf8)) as? [String: Any])
            let citation = try #require((metadata["citations"] as? [[String: Any]])?.first)
            #expect(citation["file_id"] as? String == notes.id && citation["chunk_index"] as? Int == 1 && citation["source"] as? String == "thread")

            // One ranked list over both sources.
            let mixed = try await rig.send("Do ladybirds mind the greenhouse heater?", on: rig.a.client).fileSearchHits
            #expect(mixed.contains { $0.source == .knowledge && $0.fileID == guide.id })
            #expect(mixed.contains { $0.source == .thread && $0.fileID == notes.id })
            #expect(zip(mixed, mixed.dropFirst()).allSatisfy { $0.score >= $1.score })
            // The PDF attachment's text; the binary one's never.
            #expect(try await rig.send("What climbs the trellis?", on: rig.a.client).fileSearchHits.first?.fileID == pdf.id)
            #expect(try await rig.send("Where is the thermostat calibration?", on: rig.a.client).fileSearchHits
                .allSatisfy { $0.fileID != binary.id && $0.fileID != notUTF8.id })

            // Another thread of the same guest does not see it.
            let other = try await h.createThread(rig.guest)
            let elsewhere = try await rig.send(heaterQuestion, thread: other.id, as: rig.guest)
            #expect(elsewhere.finalRun?.status == .completed)
            #expect(!elsewhere.fileSearchHits.contains { $0.source == .thread })

            // Deleting the file removes its hits and its lexemes from the thread's counts.
            let _: Loacl_V1_DeleteFileResponse = try await h.call(FS.deleteFile, request(Loacl_V1_DeleteFileRequest.self) { $0.id = notes.id }, as: rig.guest)
            #expect(try await chunks(notes.id) == "0")
            #expect(try await h.superuser("SELECT chunks FROM loacl.file_terms WHERE thread_id = $1 AND lexeme = 'heater'", [rig.thread.id]).scalar == "0")
            let after = try await rig.send(heaterQuestion, on: rig.a.client)
            #expect(after.finalRun?.status == .completed)
            #expect(!after.fileSearchHits.contains { $0.fileID == notes.id })
        }
    }

    @Test func otherSessionsAndTenantsCannotSearchAThreadsAttachments() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let assistant = try await h.createAssistant(tenant) { $0.toolsEnabled = ["file_search"] }
            let (guest, session) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)
            let notes = try await h.upload(guest, thread: thread.id, name: "notes.md", type: "text/markdown", bytes: Array(greenhouseNotes.utf8))
            // Knowledge with the question's words, so that every session's search has a query and
            // reaches the thread's chunks (under its own policies).
            _ = try await h.uploadKnowledge(tenant, assistant: assistant.id, name: "manual.md", type: "text/markdown",
                                            bytes: Array("The heater manual: night mode keeps the greenhouse warm.".utf8))
            let (_, neighbour) = try await h.startGuest(assistant.id)
            let otherAssistant = try await h.createAssistant(Caller.newTenant()) { $0.toolsEnabled = ["file_search"] }
            let (_, stranger) = try await h.startGuest(otherAssistant.id)

            /// The search a run in `thread` does, as `session`, and what of the attachment's
            /// chunks that session can read at all.
            func search(as session: Loacl_V1_Session) async throws -> (hits: [Loacl_V1_FileSearchHit], readable: String?) {
                let statement = KnowledgeSearch.statement(configuration: "simple", message: heaterQuestion, threadID: thread.id, topK: 5)
                return try await h.services.database.transaction(as: try h.sessionIdentity(session)) { connection in
                    let results = try connection.commit(after: [
                        statement,
                        PostgresStatement("SELECT count(*) FROM loacl.file_chunks WHERE file_id = $1", [notes.id]),
                    ])
                    return (KnowledgeSearch.hits(results[0]), results[1].scalar)
                }
            }
            let own = try await search(as: session)
            #expect(own.hits.first?.fileID == notes.id && own.hits.first?.chunkIndex == 1)
            #expect(own.hits.contains { $0.source == .knowledge } && own.readable == "3")
            // Another guest of the same assistant (same tenant): its assistant's knowledge only.
            let near = try await search(as: neighbour)
            #expect(near.hits.contains { $0.source == .knowledge } && !near.hits.contains { $0.source == .thread })
            #expect(near.readable == "0")
            // A guest of another tenant: nothing.
            let far = try await search(as: stranger)
            #expect(far.hits.isEmpty && far.readable == "0")
        }
    }

    @Test func attachmentsAreIndexedInTheAssistantsTextSearchConfiguration() async throws {
        try await withHarness { h in
            let assistant = try await h.createAssistant(Caller.newTenant()) {
                $0.toolsEnabled = ["file_search"]
                $0.configuration.textSearchConfig = "english"
            }
            let (guest, session) = try await h.startGuest(assistant.id)
            let thread = try await h.createThread(guest)
            let file = try await h.upload(guest, thread: thread.id, name: "roses.txt", type: "text/plain",
                                          bytes: Array("Gardeners were planting climbing roses.".utf8))
            // Stemmed as English ("planting" → "plant"): the simple configuration would keep the words as written.
            #expect(try await h.superuser("SELECT tsv::text FROM loacl.file_chunks WHERE file_id = $1", [file.id]).scalar?.contains("'plant'") == true)
            let statement = KnowledgeSearch.statement(configuration: "english", message: "How do I plant a rose?", threadID: thread.id, topK: 5)
            let hits = try await h.services.database.transaction(as: try h.sessionIdentity(session)) { connection in
                KnowledgeSearch.hits(try connection.commit(after: [statement])[0])
            }
            #expect(hits.map(\.fileID) == [file.id] && hits.first?.source == .thread)
        }
    }
}
