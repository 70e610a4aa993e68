import Foundation
import LOACLCore
import LOACLCrypto
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

/// `loacl.v1.FileService`: files attached to the calling session's threads. Bytes live in
/// `FileStorage`; a row exists only for a complete upload.
public struct FileService: Sendable {
    let database: Database
    let storage: FileStorage
    static let maxUploadChunk = 1024 * 1024
    static let downloadChunk = 256 * 1024

    public init(database: Database, storage: FileStorage) {
        self.database = database
        self.storage = storage
    }

    static let columns = """
        id, thread_id, message_id, filename, file_type, file_size, sha256, storage_path, metadata::text AS metadata,
        \(SQL.ms("created_at")), \(SQL.micros("created_at", as: "cursor"))
        """

    public func uploadFile(_ requests: RequestStream<Loacl_V1_UploadFileRequest>, context: ServerContext) async throws -> Loacl_V1_UploadFileResponse {
        let session = try CallerIdentity.requireSession()
        var iterator = requests.makeAsyncIterator()
        guard let first = try await iterator.next(), case .header(let header)? = first.part else {
            throw RPCError.invalidArgument("the first UploadFileRequest must carry the header")
        }
        let threadID = try Validate.uuid(header.threadID, "header.thread_id")
        let filename = try Validate.text(header.filename, "header.filename", min: 1, max: 255)
        guard !filename.contains("/") else { throw RPCError.invalidArgument("header.filename must not contain '/'") }
        let fileType = try Self.mediaType(header.fileType)
        let metadata = try Validate.metadata(header.metadataJson, "header.metadata_json")
        guard header.declaredSize <= storage.maxFileSize else {
            throw RPCError.invalidArgument("header.declared_size exceeds the maximum of \(storage.maxFileSize) bytes")
        }
        // Refuse before receiving bytes when the thread is not the caller's or not open.
        let status = try await database.transaction { connection in
            try MessageService.requireThread(connection, threadID, session)
        }
        guard status == "active" else { throw RPCError(.failedPrecondition, "thread is \(status)") }

        let fileID = UUIDs.random()
        let relativePath = storage.relativePath(assistantID: session.assistantID, sessionID: session.id, fileID: fileID)
        let partial = try await storage.createPartial()
        var committed = false
        do {
            while let request = try await iterator.next() {
                guard case .chunk(let bytes)? = request.part else {
                    throw RPCError.invalidArgument("only the first UploadFileRequest may carry a header")
                }
                guard bytes.count <= Self.maxUploadChunk else {
                    throw RPCError.invalidArgument("chunk must be at most \(Self.maxUploadChunk) bytes")
                }
                guard partial.size + UInt64(bytes.count) <= header.declaredSize else {
                    throw RPCError.invalidArgument("more bytes than header.declared_size (\(header.declaredSize))")
                }
                try await partial.append(bytes)
            }
            guard partial.size == header.declaredSize else {
                throw RPCError.invalidArgument("upload ended after \(partial.size) of \(header.declaredSize) declared bytes")
            }
            let contents = try await partial.contents()
            let digest = SHA256.hash(contents)
            // A text attachment becomes searchable by file_search in its thread (AttachmentIndex).
            let chunks = await AttachmentIndex.chunks(of: contents, type: fileType)
            try await storage.commit(partial, to: relativePath)
            committed = true
            let row = try await database.transaction { connection in
                let row = try connection.execParams("""
                    INSERT INTO loacl.files (id, thread_id, filename, file_type, file_size, sha256, storage_path, metadata)
                    VALUES ($1, $2, $3, $4, $5, $6::bytea, $7, $8::jsonb) RETURNING \(Self.columns)
                    """, [fileID, threadID, filename, fileType, String(header.declaredSize), PostgresBytea.encode(digest),
                          relativePath, metadata]).one("file")
                if !chunks.isEmpty {
                    let index = AttachmentIndex.insert(fileID: fileID, threadID: threadID, chunks: chunks)
                    try connection.execParams(index.sql, index.parameters)
                }
                try connection.execParams("""
                    INSERT INTO loacl.usage_metrics (assistant_id, session_id, thread_id, metric_type, metric_value)
                    VALUES ($1, $2, $3, 'files', 1)
                    """, [session.assistantID, session.id, threadID])
                return row
            }
            var response = Loacl_V1_UploadFileResponse()
            response.file = Self.file(row)
            return response
        } catch {
            // Aborted, rejected or not recorded: leave no bytes behind. From a fresh task,
            // because this one may be cancelled (the client went away).
            let storage = self.storage
            let wasCommitted = committed
            await Task {
                if wasCommitted {
                    await storage.remove(relativePaths: [relativePath])
                } else {
                    await storage.discard(partial)
                }
            }.value
            throw error
        }
    }

    public func downloadFile(_ request: Loacl_V1_DownloadFileRequest, responses: ResponseWriter<Loacl_V1_DownloadFileResponse>, context: ServerContext) async throws {
        let row = try await fileRow(request.id)
        let file = Self.file(row)
        let path = row.string("storage_path")
        var message = Loacl_V1_DownloadFileResponse()
        message.file = file
        try await responses.write(message)
        var offset: UInt64 = 0
        while offset < file.fileSize {
            let count = Int(min(UInt64(Self.downloadChunk), file.fileSize - offset))
            let bytes = try await storage.read(relativePath: path, offset: offset, count: count)
            guard !bytes.isEmpty else { throw RPCError(.dataLoss, "stored file is shorter than recorded") }
            message.chunk = bytes
            try await responses.write(message)
            offset += UInt64(bytes.count)
        }
    }

    public func getFile(_ request: Loacl_V1_GetFileRequest, context: ServerContext) async throws -> Loacl_V1_GetFileResponse {
        var response = Loacl_V1_GetFileResponse()
        response.file = Self.file(try await fileRow(request.id))
        return response
    }

    public func listFiles(_ request: Loacl_V1_ListFilesRequest, context: ServerContext) async throws -> Loacl_V1_ListFilesResponse {
        let session = try CallerIdentity.requireSession()
        let threadID = try Validate.uuid(request.threadID, "thread_id")
        let pageSize = try Validate.pageSize(request.pageSize)
        let cursor = try PageToken.decode(request.pageToken, expecting: .time)
        let rows = try await database.transaction { connection in
            try MessageService.requireThread(connection, threadID, session)
            return try connection.execParams("""
                SELECT \(Self.columns) FROM loacl.files
                WHERE thread_id = $1
                  AND \(SQL.after("created_at", "id", time: "$2", id: "$3", descending: true))
                ORDER BY created_at DESC, id DESC LIMIT $4
                """, [threadID, cursor.map { SQL.timestampParameter(micros: $0.value) }, cursor?.id, String(pageSize + 1)]).namedRows
        }
        let (page, next) = paginate(rows, pageSize: pageSize) { PageToken(kind: .time, value: $0.int64OrZero("cursor"), id: $0.string("id")) }
        var response = Loacl_V1_ListFilesResponse()
        response.files = page.map(Self.file)
        response.nextPageToken = next
        return response
    }

    public func deleteFile(_ request: Loacl_V1_DeleteFileRequest, context: ServerContext) async throws -> Loacl_V1_DeleteFileResponse {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(request.id, "id")
        let path = try await database.transaction { connection in
            // The attachment's search index goes with it, only if it is deleted (AttachmentIndex).
            try connection.execParams("""
                WITH deleted AS (
                    DELETE FROM loacl.files f USING loacl.threads t
                    WHERE f.id = $1 AND t.id = f.thread_id AND t.assistant_id = $2 RETURNING f.id, f.storage_path
                ), \(AttachmentIndex.forgetTerms(of: "(SELECT d.id FROM deleted d)"))
                SELECT storage_path FROM deleted
                """, [id, session.assistantID]).one("file").string("storage_path")
        }
        await storage.remove(relativePaths: [path])
        return Loacl_V1_DeleteFileResponse()
    }

    private func fileRow(_ rawID: String) async throws -> PostgresRow {
        let session = try CallerIdentity.requireSession()
        let id = try Validate.uuid(rawID, "id")
        return try await database.transaction { connection in
            try connection.execParams("""
                SELECT \(Self.columns) FROM loacl.files
                WHERE id = $1 AND thread_id IN (SELECT t.id FROM loacl.threads t WHERE t.assistant_id = $2)
                """, [id, session.assistantID]).one("file")
        }
    }

    /// `type/subtype` (RFC 6838 characters), at most 255 characters.
    static func mediaType(_ value: String) throws(RPCError) -> String {
        let parts = value.split(separator: "/", omittingEmptySubsequences: false)
        let tokenCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&-^_.+".utf8)
        guard value.utf8.count <= 255, parts.count == 2,
              parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(tokenCharacters.contains) }) else {
            throw RPCError.invalidArgument("header.file_type must be a media type such as text/plain")
        }
        return value.lowercased()
    }

    static func file(_ row: PostgresRow) -> Loacl_V1_File {
        var file = Loacl_V1_File()
        file.id = row.string("id")
        file.threadID = row.string("thread_id")
        file.messageID = row.string("message_id")
        file.filename = row.string("filename")
        file.fileType = row.string("file_type")
        file.fileSize = UInt64(row.int64OrZero("file_size"))
        file.sha256 = Hex.encode(row.bytes("sha256") ?? [])
        file.metadataJson = row.string("metadata")
        file.createdAtMs = row.int64OrZero("created_at_ms")
        return file
    }
}

enum UUIDs {
    static func random() -> String { UUID().uuidString.lowercased() }
}
