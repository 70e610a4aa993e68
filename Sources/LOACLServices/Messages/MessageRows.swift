import Foundation
import LOACLMessages
import LOACLPostgres
import LOACLUpstream

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
        case "tool": .tool
        default: .unspecified
        }
        message.content = row.string("content")
        message.tokensUsed = UInt32(clamping: row.int64OrZero("tokens_used"))
        message.metadataJson = row.string("metadata")
        message.createdAtMs = row.int64OrZero("created_at_ms")
        let files = row["file_ids"] ?? ""
        message.fileIds = files.isEmpty ? [] : files.split(separator: ",").map(String.init)
        // Function calls and outputs are kept in the metadata (`tool_calls`, `tool_call_id`).
        if message.metadataJson.contains("tool_call"),
           let metadata = (try? JSONSerialization.jsonObject(with: Data(message.metadataJson.utf8))) as? [String: Any] {
            if let calls = metadata["tool_calls"], let data = try? JSONSerialization.data(withJSONObject: calls) {
                message.toolCalls = toolCalls(json: String(decoding: data, as: UTF8.self)).map(protoToolCall)
            }
            message.toolCallID = metadata["tool_call_id"] as? String ?? ""
        }
        return message
    }

    /// `[{"call_id","name","arguments"}]` → calls (none for NULL or malformed JSON).
    static func toolCalls(json: String?) -> [ChatToolCall] {
        guard let json, let data = json.data(using: .utf8) else { return [] }
        return (try? JSONDecoder().decode([ChatToolCall].self, from: data)) ?? []
    }

    static func toolCallsJSON(_ calls: [ChatToolCall]) -> String {
        let data = (try? JSONEncoder().encode(calls)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func protoToolCall(_ call: ChatToolCall) -> Loacl_V1_ToolCall {
        var proto = Loacl_V1_ToolCall()
        proto.callID = call.callID
        proto.name = call.name
        proto.argumentsJson = call.arguments
        return proto
    }
}
