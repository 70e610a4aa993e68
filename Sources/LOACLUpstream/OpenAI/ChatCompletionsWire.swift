import Foundation

/// Request body of `POST /v1/chat/completions` (the fields LOACL sends).
struct ChatCompletionsRequestBody: Encodable {
    var model: String
    var messages: [Message]
    var stream: Bool = true
    var streamOptions = StreamOptions()
    var temperature: Double?
    var maxCompletionTokens: Int?
    var maxTokens: Int?
    var tools: [Tool]?

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, temperature, tools
        case streamOptions = "stream_options"
        case maxCompletionTokens = "max_completion_tokens"
        case maxTokens = "max_tokens"
    }

    struct StreamOptions: Encodable {
        var includeUsage = true
        enum CodingKeys: String, CodingKey { case includeUsage = "include_usage" }
    }

    /// A message; an assistant message that called functions has `tool_calls` (and `content`
    /// null when it wrote nothing), a function's output is `role: "tool"` with `tool_call_id`.
    struct Message: Encodable {
        var role: String
        var content: Content?
        var toolCalls: [ToolCall]?
        var toolCallID: String?

        init(role: String, content: Content?, toolCalls: [ToolCall]? = nil, toolCallID: String? = nil) {
            self.role = role
            self.content = content
            self.toolCalls = toolCalls
            self.toolCallID = toolCallID
        }

        enum CodingKeys: String, CodingKey {
            case role, content
            case toolCalls = "tool_calls"
            case toolCallID = "tool_call_id"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(role, forKey: .role)
            if let content { try c.encode(content, forKey: .content) } else { try c.encodeNil(forKey: .content) }
            try c.encodeIfPresent(toolCalls, forKey: .toolCalls)
            try c.encodeIfPresent(toolCallID, forKey: .toolCallID)
        }

        init(_ turn: ChatTurn) {
            switch turn.role {
            case .tool:
                self.init(role: "tool", content: .text(turn.content), toolCallID: turn.toolCallID ?? "")
            case .assistant where !turn.toolCalls.isEmpty:
                self.init(role: "assistant", content: turn.content.isEmpty ? nil : .text(turn.content),
                          toolCalls: turn.toolCalls.map(ToolCall.init))
            default:
                self.init(role: turn.role.rawValue, content: .text(turn.content))
            }
        }
    }

    /// `{"id":…,"type":"function","function":{"name":…,"arguments":…}}`.
    struct ToolCall: Encodable {
        var id: String
        var type = "function"
        var function: Function
        struct Function: Encodable { var name: String; var arguments: String }

        init(_ call: ChatToolCall) {
            id = call.callID
            function = Function(name: call.name, arguments: call.arguments)
        }
    }

    /// `{"type":"function","function":{"name":…,"description":…,"parameters":{…},"strict":…}}`.
    struct Tool: Encodable {
        var type = "function"
        var function: Function
        struct Function: Encodable {
            var name: String
            var description: String?
            var parameters: EmbeddedJSON
            var strict: Bool
        }

        init(_ tool: ChatTool) {
            function = Function(name: tool.name, description: tool.description.isEmpty ? nil : tool.description,
                                parameters: EmbeddedJSON(tool.parametersJSON), strict: tool.strict)
        }
    }

    typealias Content = WireContent<Part>

    /// `{"type":"text"}`, `{"type":"image_url","image_url":{"url":…}}` or
    /// `{"type":"file","file":{"filename":…,"file_data":…}}`.
    struct Part: Encodable {
        var type: String
        var text: String?
        var imageURL: ImageURL?
        var file: File?

        enum CodingKeys: String, CodingKey {
            case type, text, file
            case imageURL = "image_url"
        }
        struct ImageURL: Encodable { var url: String }
        struct File: Encodable {
            var filename: String
            var fileData: String
            enum CodingKeys: String, CodingKey {
                case filename
                case fileData = "file_data"
            }
        }
    }

    /// `legacyMaxTokens` sends `max_tokens` (older self-hosted servers) instead of
    /// `max_completion_tokens` (OpenAI's current name, required by its reasoning models).
    init(_ request: ChatRequest, defaultModel: String, legacyMaxTokens: Bool) {
        model = request.model.isEmpty ? defaultModel : request.model
        temperature = request.temperature
        if legacyMaxTokens { maxTokens = request.maxOutputTokens } else { maxCompletionTokens = request.maxOutputTokens }
        messages = []
        if !request.instructions.isEmpty {
            messages.append(Message(role: "system", content: .text(request.instructions)))
        }
        tools = request.tools.isEmpty ? nil : request.tools.map(Tool.init)
        messages += request.history.map(Message.init)
        defer { messages += request.continuation.map(Message.init) }
        let text = request.userTextWithInlineAttachments
        let binaries = request.binaryAttachments
        if binaries.isEmpty {
            messages.append(Message(role: "user", content: .text(text)))
        } else {
            var parts = [Part(type: "text", text: text)]
            for file in binaries {
                if AttachmentKind(mimeType: file.mimeType) == .image {
                    parts.append(Part(type: "image_url", imageURL: .init(url: file.dataURL)))
                } else {
                    parts.append(Part(type: "file", file: .init(filename: file.filename, fileData: file.dataURL)))
                }
            }
            messages.append(Message(role: "user", content: .parts(parts)))
        }
    }
}

/// One `chat.completion.chunk` (or an error object some servers send mid-stream).
struct ChatCompletionChunk: Decodable {
    var choices: [Choice]?
    var usage: Usage?
    var error: ErrorObject?

    struct Choice: Decodable {
        var delta: Delta?
        var finishReason: String?
        enum CodingKeys: String, CodingKey {
            case delta
            case finishReason = "finish_reason"
        }
    }
    struct Delta: Decodable {
        var content: String?
        var toolCalls: [ToolCallDelta]?
        enum CodingKeys: String, CodingKey {
            case content
            case toolCalls = "tool_calls"
        }
    }
    /// A piece of a call: `index` always; `id` and `function.name` in its first piece.
    struct ToolCallDelta: Decodable {
        var index: Int?
        var id: String?
        var function: Function?
        struct Function: Decodable { var name: String?; var arguments: String? }
    }
    struct Usage: Decodable {
        var promptTokens: Int
        var completionTokens: Int
        var totalTokens: Int?
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
            case totalTokens = "total_tokens"
        }
    }
    struct ErrorObject: Decodable {
        var message: String?
        var type: String?
        var code: String?

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            message = try c.decodeIfPresent(String.self, forKey: .message)
            type = try c.decodeIfPresent(String.self, forKey: .type)
            // Some servers send a numeric code.
            code = (try? c.decodeIfPresent(String.self, forKey: .code)) ?? (try? c.decodeIfPresent(Int.self, forKey: .code)).flatMap { $0.map(String.init) }
        }
        enum CodingKeys: String, CodingKey { case message, type, code }
    }
}
