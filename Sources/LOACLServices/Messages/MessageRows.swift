import LOACLMessages
import LOACLPostgres

/// `loacl.messages` rows → `Loacl_V1_Message`.
enum MessageRows {
    /// Columns of `loacl.messages m`, without attachments: what an INSERT returns (a new
    /// message has no files yet; a files sub-query would only add its plan, with the files
    /// policy, to every stored message).
    static let insertedColumns = """
        m.id, m.thread_id, m.role, m.content, m.tokens_used, m.metadata::text AS metadata,
        \(SQL.ms("m.created_at", as: "created_at_ms")), \(SQL.micros("m.created_at", as: "cursor"))
        """

    /// Columns of `loacl.messages m`, with the ids of the files attached to each message.
    static let columns = insertedColumns + """
        ,
        array_to_string(ARRAY(SELECT f.id::text FROM loacl.files f WHERE f.message_id = m.id
                              ORDER BY f.created_at, f.id), ',') AS file_ids
        """

    static func message(_ row: PostgresRow) -> Loacl_V1_Message {
        var message = Loacl_V1_Message()
        message.id = row.string("id")
        message.threadID = row.string("thread_id")
        message.role = switch row["role"] {
        case "user": .user
        case "assistant": .assistant
        case "system": .system
        default: .unspecified
        }
        message.content = row.string("content")
        message.tokensUsed = UInt32(clamping: row.int64OrZero("tokens_used"))
        message.metadataJson = row.string("metadata")
        message.createdAtMs = row.int64OrZero("created_at_ms")
        let files = row["file_ids"] ?? ""
        message.fileIds = files.isEmpty ? [] : files.split(separator: ",").map(String.init)
        return message
    }
}
