import Foundation
import LOACLCore
import LOACLCrypto
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

// AssistantService's knowledge files: documents a tenant gives an assistant for its
// `file_search` tool. The text is extracted (TextExtraction), split (TextChunker) and stored
// with each chunk's tsvector in one statement; the document's bytes are not kept.
extension AssistantService {
    static let maxKnowledgeFileSize: UInt64 = 10 * 1024 * 1024
    static let maxKnowledgeChunks = 20_000

    static let knowledgeColumns = """
        f.id, f.assistant_id, f.filename, f.file_type, f.file_size, f.sha256, f.chunk_count,
        \(SQL.ms("f.created_at", as: "created_at_ms")), \(SQL.micros("f.created_at", as: "cursor"))
        """

    public func uploadKnowledgeFile(_ requests: RequestStream<Loacl_V1_UploadKnowledgeFileRequest>,
                                    context: ServerContext) async throws -> Loacl_V1_UploadKnowledgeFileResponse {
        _ = try CallerIdentity.requireTenant()
        var iterator = requests.makeAsyncIterator()
        guard let first = try await iterator.next(), case .header(let header)? = first.part else {
            throw RPCError.invalidArgument("the first UploadKnowledgeFileRequest must carry the header")
        }
        let assistantID = try Validate.uuid(header.assistantID, "header.assistant_id")
        let filename = try Validate.text(header.filename, "header.filename", min: 1, max: 255)
        guard !filename.contains("/") else { throw RPCError.invalidArgument("header.filename must not contain '/'") }
        let fileType = header.fileType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard TextExtraction.reads(fileType) else {
            throw RPCError.invalidArgument("header.file_type must be one of \(TextExtraction.acceptedTypes.joined(separator: ", "))")
        }
        guard header.declaredSize <= Self.maxKnowledgeFileSize else {
            throw RPCError.invalidArgument("header.declared_size exceeds the maximum of \(Self.maxKnowledgeFileSize) bytes")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(header.declaredSize))
        while let request = try await iterator.next() {
            guard case .chunk(let chunk)? = request.part else {
                throw RPCError.invalidArgument("only the first UploadKnowledgeFileRequest may carry a header")
            }
            guard chunk.count <= FileService.maxUploadChunk else {
                throw RPCError.invalidArgument("chunk must be at most \(FileService.maxUploadChunk) bytes")
            }
            guard UInt64(bytes.count + chunk.count) <= header.declaredSize else {
                throw RPCError.invalidArgument("more bytes than header.declared_size (\(header.declaredSize))")
            }
            bytes += chunk
        }
        guard UInt64(bytes.count) == header.declaredSize else {
            throw RPCError.invalidArgument("upload ended after \(bytes.count) of \(header.declaredSize) declared bytes")
        }
        let chunks = TextChunker.chunks(try await TextExtraction.text(of: bytes, type: fileType))
        guard !chunks.isEmpty else { throw RPCError.invalidArgument("the document has no text") }
        guard chunks.count <= Self.maxKnowledgeChunks else { throw RPCError.invalidArgument("the document is too long") }
        let rows = SearchIndexSQL.json(chunks)
        let digest = SHA256.hash(bytes)
        let size = String(bytes.count)
        // One statement: the file and its chunks, each chunk's tsvector in the assistant's
        // text search configuration. The policies refuse another tenant's assistant.
        let row = try await database.transaction { connection in
            try connection.commit(after: [PostgresStatement("""
                WITH cfg AS (
                    SELECT COALESCE(NULLIF(a.configuration->>'text_search_config', ''), 'simple')::regconfig AS cfg
                    FROM loacl.assistants a WHERE a.id = $1
                ), f AS (
                    INSERT INTO loacl.knowledge_files (assistant_id, filename, file_type, file_size, sha256, chunk_count)
                    SELECT $1, $2, $3, $4, $5::bytea, $6 FROM cfg RETURNING *
                ), \(SearchIndexSQL.rows(json: "$7")), c AS (
                    INSERT INTO loacl.knowledge_chunks (file_id, assistant_id, chunk_index, content, tsv)
                    SELECT f.id, $1, rows.n, rows.content, rows.tsv FROM f, rows
                ), t AS (
                    \(SearchIndexSQL.addTerms("loacl.knowledge_terms", owner: "assistant_id", value: "$1"))
                )
                SELECT \(Self.knowledgeColumns) FROM f
                """, [assistantID, filename, fileType, size, PostgresBytea.encode(digest), String(chunks.count), rows])])[0]
                .namedRows.first
        }
        guard let row else { throw RPCError.notFound("assistant not found") }
        var response = Loacl_V1_UploadKnowledgeFileResponse()
        response.file = Self.knowledgeFile(row)
        return response
    }

    public func listKnowledgeFiles(_ request: Loacl_V1_ListKnowledgeFilesRequest, context: ServerContext) async throws -> Loacl_V1_ListKnowledgeFilesResponse {
        _ = try CallerIdentity.requireTenant()
        let assistantID = try Validate.uuid(request.assistantID, "assistant_id")
        let pageSize = try Validate.pageSize(request.pageSize)
        let cursor = try PageToken.decode(request.pageToken, expecting: .time)
        let rows = try await database.transaction { connection in
            let results = try connection.commit(after: [
                PostgresStatement("SELECT id FROM loacl.assistants WHERE id = $1", [assistantID]),
                PostgresStatement("""
                    SELECT \(Self.knowledgeColumns) FROM loacl.knowledge_files f
                    WHERE f.assistant_id = $1 AND \(SQL.after("f.created_at", "f.id", time: "$2", id: "$3", descending: true))
                    ORDER BY f.created_at DESC, f.id DESC LIMIT $4
                    """, [assistantID, cursor.map { SQL.timestampParameter(micros: $0.value) }, cursor?.id, String(pageSize + 1)]),
            ])
            guard !results[0].isEmpty else { throw RPCError.notFound("assistant not found") }
            return results[1].namedRows
        }
        let (page, next) = paginate(rows, pageSize: pageSize) { PageToken(kind: .time, value: $0.int64OrZero("cursor"), id: $0.string("id")) }
        var response = Loacl_V1_ListKnowledgeFilesResponse()
        response.files = page.map(Self.knowledgeFile)
        response.nextPageToken = next
        return response
    }

    public func deleteKnowledgeFile(_ request: Loacl_V1_DeleteKnowledgeFileRequest, context: ServerContext) async throws -> Loacl_V1_DeleteKnowledgeFileResponse {
        _ = try CallerIdentity.requireTenant()
        let id = try Validate.uuid(request.id, "id")
        let deleted = try await database.transaction { connection in
            // The file's lexemes leave the term counts in the same statement.
            try connection.commit(after: [PostgresStatement("""
                WITH \(SearchIndexSQL.forgetTerms(of: "$1", chunks: "loacl.knowledge_chunks", terms: "loacl.knowledge_terms", owner: "assistant_id"))
                DELETE FROM loacl.knowledge_files WHERE id = $1
                """, [id])])[0].affectedRows
        }
        guard deleted == 1 else { throw RPCError.notFound("knowledge file not found") }
        return Loacl_V1_DeleteKnowledgeFileResponse()
    }

    static func knowledgeFile(_ row: PostgresRow) -> Loacl_V1_KnowledgeFile {
        var file = Loacl_V1_KnowledgeFile()
        file.id = row.string("id")
        file.assistantID = row.string("assistant_id")
        file.filename = row.string("filename")
        file.fileType = row.string("file_type")
        file.fileSize = UInt64(clamping: row.int64OrZero("file_size"))
        file.sha256 = Hex.encode(row.bytes("sha256") ?? [])
        file.chunkCount = UInt32(clamping: row.int64OrZero("chunk_count"))
        file.createdAtMs = row.int64OrZero("created_at_ms")
        return file
    }
}
