import Foundation
import LOACLClient
import LOACLCore
import LOACLFakeOpenAI
import LOACLMessages
import LOACLPostgres
import LOACLServices
import Testing

// Knowledge files and the `file_search` tool: documents uploaded to an assistant (Markdown,
// PDF through poppler's pdftotext), indexed in PostgreSQL full-text search, searched by runs.

/// A one-page PDF whose text is `text` (a standard font, so pdftotext reads it).
func onePagePDF(_ text: String) -> [UInt8] {
    let content = Array("BT /F1 12 Tf 72 720 Td (\(text)) Tj ET".utf8)
    let head = """
        %PDF-1.4
        1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
        2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
        3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >> endobj
        4 0 obj << /Length \(content.count) >> stream

        """
    let tail = """

        endstream endobj
        5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj
        trailer << /Root 1 0 R >>
        %%EOF

        """
    return Array(head.utf8) + content + Array(tail.utf8)
}

extension Harness {
    func uploadKnowledge(_ tenant: Caller, assistant: String, name: String, type: String, bytes: [UInt8]) async throws -> Loacl_V1_KnowledgeFile {
        try await client.clientStreaming(
            AS.uploadKnowledgeFile, options: CallOptions(timeout: .seconds(60), metadata: tenant.metadata),
            requestType: Loacl_V1_UploadKnowledgeFileRequest.self, responseType: Loacl_V1_UploadKnowledgeFileResponse.self
        ) { writer in
            var header = Loacl_V1_UploadKnowledgeFileHeader()
            header.assistantID = assistant
            header.filename = name
            header.fileType = type
            header.declaredSize = UInt64(bytes.count)
            var first = Loacl_V1_UploadKnowledgeFileRequest()
            first.header = header
            try await writer.write(first)
            var offset = 0
            while offset < bytes.count {
                var part = Loacl_V1_UploadKnowledgeFileRequest()
                part.chunk = Array(bytes[offset..<min(offset + 4096, bytes.count)])
                try await writer.write(part)
                offset += 4096
            }
        }.file
    }
}

let gardenGuide = """
    # Garden guide

    ## Soil
    Loamy soil drains well and holds nutrients. Add compost every spring.

    ## Watering
    Water deeply twice a week rather than a little every day; morning is best.

    ## Pests
    Aphids gather under leaves. Ladybirds eat them; a soap spray helps too.
    """

@Suite("Knowledge files and file search")
struct KnowledgeTests {
    @Test func uploadedMarkdownAndPDFAreFoundCitedAndGivenToTheModel() async throws {
        try await withRuns(.responses, reply: { _ in UpstreamEndpoint.responses.reply(["Ladybirds ", "eat aphids [1]."], input: 80, output: 6) },
                           assistant: { $0.toolsEnabled = ["file_search"]; $0.configuration.fileSearchTopK = 2 }) { rig in
            // The rig's assistant belongs to a tenant of its own: find it, upload as that tenant.
            let tenant = try await rig.assistantTenant()
            let md = try await rig.harness.uploadKnowledge(tenant.caller, assistant: tenant.assistantID, name: "guide.md",
                                                           type: "text/markdown", bytes: Array(gardenGuide.utf8))
            #expect(md.chunkCount >= 1 && md.fileSize == UInt64(gardenGuide.utf8.count) && md.sha256.count == 64)
            let pdf = try await rig.harness.uploadKnowledge(tenant.caller, assistant: tenant.assistantID, name: "tomatoes.pdf",
                                                            type: "application/pdf", bytes: onePagePDF("Tomatoes need six hours of sun."))
            #expect(pdf.chunkCount == 1)

            let events = try await rig.send("How do I get rid of aphids on my roses?", on: rig.a.client)
            let hits = events.flatMap { event -> [Loacl_V1_FileSearchHit] in if case .fileSearch(let r)? = event.event { r.hits } else { [] } }
            try #require(!hits.isEmpty)
            #expect(hits[0].fileID == md.id && hits[0].text.contains("Aphids gather under leaves"))
            // The search comes before the reply.
            let searchAt = try #require(events.firstIndex { if case .fileSearch? = $0.event { true } else { false } })
            let firstDelta = try #require(events.firstIndex { if case .delta? = $0.event { true } else { false } })
            #expect(searchAt < firstDelta)
            // The model got the passage; the stored reply cites it.
            let upstreamRequest = try #require(rig.upstream.requests.first { !$0.asksForFollowUps })
            #expect((upstreamRequest.json?["instructions"] as? String)?.contains("Aphids gather under leaves") == true)
            let replies = events.compactMap { event -> Loacl_V1_Message? in if case .assistantMessage(let m)? = event.event { m } else { nil } }
            let reply = try #require(replies.first)
            let metadata = try #require(try JSONSerialization.jsonObject(with: Data(reply.metadataJson.utf8)) as? [String: Any])
            let citations = try #require(metadata["citations"] as? [[String: Any]])
            #expect(citations.first?["file_id"] as? String == md.id && citations.first?["chunk_index"] as? Int == Int(hits[0].chunkIndex))

            // The PDF's text is searchable too.
            let second = try await rig.send("How much sun do tomatoes need?", on: rig.a.client)
            let pdfHits = second.flatMap { event -> [Loacl_V1_FileSearchHit] in if case .fileSearch(let r)? = event.event { r.hits } else { [] } }
            #expect(pdfHits.first?.fileID == pdf.id && pdfHits.first?.text.contains("six hours of sun") == true)

            // Listed and deleted by the tenant; invisible to another tenant.
            let other = Caller.newTenant()
            let foreign = await refusal {
                _ = try await rig.harness.uploadKnowledge(other, assistant: tenant.assistantID, name: "x.md", type: "text/markdown", bytes: Array("x".utf8))
            }
            #expect(foreign?.code == .notFound)
            let list: Loacl_V1_ListKnowledgeFilesResponse = try await rig.harness.call(
                AS.listKnowledgeFiles, request(Loacl_V1_ListKnowledgeFilesRequest.self) { $0.assistantID = tenant.assistantID }, as: tenant.caller)
            #expect(list.files.map(\.id) == [pdf.id, md.id])
            #expect(await rig.harness.code(AS.listKnowledgeFiles, request(Loacl_V1_ListKnowledgeFilesRequest.self) { $0.assistantID = tenant.assistantID },
                                           as: other, Loacl_V1_ListKnowledgeFilesResponse.self) == .notFound)
            #expect(await rig.harness.code(AS.deleteKnowledgeFile, request(Loacl_V1_DeleteKnowledgeFileRequest.self) { $0.id = md.id },
                                           as: other, Loacl_V1_DeleteKnowledgeFileResponse.self) == .notFound)
            let _: Loacl_V1_DeleteKnowledgeFileResponse = try await rig.harness.call(
                AS.deleteKnowledgeFile, request(Loacl_V1_DeleteKnowledgeFileRequest.self) { $0.id = md.id }, as: tenant.caller)
            let third = try await rig.send("aphids again?", on: rig.a.client)
            #expect(!third.contains { if case .fileSearch(let r)? = $0.event { r.hits.contains { $0.fileID == md.id } } else { false } })
        }
    }

    @Test func theOfflineProviderSearchesToo() async throws {
        try await withRuns(reply: { _ in .status(500) }, assistant: { $0.configuration.provider = "offline"; $0.toolsEnabled = ["file_search"] }) { rig in
            let tenant = try await rig.assistantTenant()
            let file = try await rig.harness.uploadKnowledge(tenant.caller, assistant: tenant.assistantID, name: "guide.md",
                                                             type: "text/markdown", bytes: Array(gardenGuide.utf8))
            let events = try await rig.send("When should I water?", on: rig.a.client)
            let hits = events.flatMap { event -> [Loacl_V1_FileSearchHit] in if case .fileSearch(let r)? = event.event { r.hits } else { [] } }
            #expect(hits.first?.fileID == file.id && hits.first?.text.contains("Water deeply") == true)
            #expect(events.finalRun?.status == .completed)
        }
    }

    @Test func badUploadsAreRefused() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let assistant = try await h.createAssistant(tenant)
            let cases: [(String, String, [UInt8], String)] = [
                ("a.exe", "application/octet-stream", [1, 2, 3], "header.file_type"),
                ("bad.txt", "text/plain", [0xFF, 0xFE, 0x00], "not valid UTF-8"),
                ("empty.md", "text/markdown", Array("   \n\n  ".utf8), "no text"),
                ("broken.pdf", "application/pdf", Array("%PDF-1.4 nothing".utf8), "PDF could not be read"),
                ("a/b.md", "text/markdown", Array("x".utf8), "must not contain '/'"),
            ]
            for (name, type, bytes, message) in cases {
                let error = await refusal { _ = try await h.uploadKnowledge(tenant, assistant: assistant.id, name: name, type: type, bytes: bytes) }
                #expect(error?.code == .invalidArgument && error?.message.contains(message) == true, "\(name): \(String(describing: error))")
            }
        }
    }
}

extension RunRig {
    /// The tenant that owns the rig's assistant (withRuns makes one with a random key): a new
    /// tenant cannot be used, so the assistant is looked up by its guest's session.
    func assistantTenant() async throws -> (caller: Caller, assistantID: String) {
        let assistantID = try await harness.superuser("""
            SELECT s.assistant_id FROM loacl.threads t JOIN loacl.sessions s ON s.id = t.session_id WHERE t.id = $1
            """, [thread.id]).scalar ?? ""
        guard let key = tenantKey else { throw RPCError.internal("no tenant key") }
        return (.tenant(key), assistantID)
    }
}
