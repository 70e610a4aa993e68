import Foundation

/// Request body of `POST /v1/responses` (the fields LOACL sends).
struct ResponsesRequestBody: Encodable {
    var model: String
    var instructions: String?
    var input: [InputItem]
    var stream: Bool
    /// LOACL keeps the conversation itself; nothing needs to be stored upstream.
    var store: Bool = false
    var temperature: Double?
    var maxOutputTokens: Int?
    var tools: [Tool]?

    enum CodingKeys: String, CodingKey {
        case model, instructions, input, stream, store, temperature, tools
        case maxOutputTokens = "max_output_tokens"
    }

    struct InputMessage: Encodable {
        var role: String
        var content: Content
    }

    /// An input item: a message, a function call the model made, or that call's output.
    enum InputItem: Encodable {
        case message(InputMessage)
        case functionCall(ChatToolCall)
        case functionCallOutput(callID: String, output: String)

        enum Keys: String, CodingKey {
            case type, role, content, name, arguments, output
            case callID = "call_id"
        }

        func encode(to encoder: any Encoder) throws {
            switch self {
            case .message(let message):
                try message.encode(to: encoder)
            case .functionCall(let call):
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode("function_call", forKey: .type)
                try c.encode(call.callID, forKey: .callID)
                try c.encode(call.name, forKey: .name)
                try c.encode(call.arguments, forKey: .arguments)
            case .functionCallOutput(let callID, let output):
                var c = encoder.container(keyedBy: Keys.self)
                try c.encode("function_call_output", forKey: .type)
                try c.encode(callID, forKey: .callID)
                try c.encode(output, forKey: .output)
            }
        }

        /// A conversation turn as Responses input items (an assistant turn that called
        /// functions: its text, if any, then one `function_call` item per call).
        static func items(_ turn: ChatTurn) -> [InputItem] {
            switch turn.role {
            case .tool:
                return [.functionCallOutput(callID: turn.toolCallID ?? "", output: turn.content)]
            case .assistant where !turn.toolCalls.isEmpty:
                let text: [InputItem] = turn.content.isEmpty ? [] : [.message(InputMessage(role: "assistant", content: .text(turn.content)))]
                return text + turn.toolCalls.map { .functionCall($0) }
            default:
                return [.message(InputMessage(role: turn.role.rawValue, content: .text(turn.content)))]
            }
        }
    }

    /// `{"type":"function","name":…,"description":…,"parameters":{…},"strict":…}`.
    struct Tool: Encodable {
        var type = "function"
        var name: String
        var description: String?
        var parameters: EmbeddedJSON
        var strict: Bool

        init(_ tool: ChatTool) {
            name = tool.name
            description = tool.description.isEmpty ? nil : tool.description
            parameters = EmbeddedJSON(tool.parametersJSON)
            strict = tool.strict
        }
    }

    typealias Content = WireContent<Part>

    /// `input_text`, `input_image` (data URL) or `input_file` (PDF as a data URL).
    struct Part: Encodable {
        var type: String
        var text: String?
        var imageURL: String?
        var filename: String?
        var fileData: String?

        enum CodingKeys: String, CodingKey {
            case type, text, filename
            case imageURL = "image_url"
            case fileData = "file_data"
        }
    }

    init(_ request: ChatRequest, defaultModel: String, stream: Bool = true) {
        model = request.model.isEmpty ? defaultModel : request.model
        instructions = request.instructions.isEmpty ? nil : request.instructions
        self.stream = stream
        temperature = request.temperature
        maxOutputTokens = request.maxOutputTokens
        tools = request.tools.isEmpty ? nil : request.tools.map(Tool.init)
        input = request.history.flatMap(InputItem.items)
        defer { input += request.continuation.flatMap(InputItem.items) }
        let text = request.userTextWithInlineAttachments
        let binaries = request.binaryAttachments
        if binaries.isEmpty {
            input.append(.message(InputMessage(role: "user", content: .text(text))))
        } else {
            var parts = [Part(type: "input_text", text: text)]
            for file in binaries {
                if AttachmentKind(mimeType: file.mimeType) == .image {
                    parts.append(Part(type: "input_image", imageURL: file.dataURL))
                } else {
                    parts.append(Part(type: "input_file", filename: file.filename, fileData: file.dataURL))
                }
            }
            input.append(.message(InputMessage(role: "user", content: .parts(parts))))
        }
    }
}

/// One event of the Responses stream. Only the fields LOACL reads; every event has `type`.
struct ResponsesStreamEvent: Decodable {
    var type: String
    /// `response.output_text.delta`, `response.function_call_arguments.delta`
    var delta: String?
    /// `response.output_item.added` / `.done`: the item (a `function_call` one is a call).
    var item: OutputItem?
    /// The output item a function-call event is about, and its place in the output.
    var itemID: String?
    var outputIndex: Int?
    /// `response.function_call_arguments.done`: the whole arguments text.
    var arguments: String?

    enum CodingKeys: String, CodingKey {
        case type, delta, item, arguments, response, code, message, error
        case itemID = "item_id"
        case outputIndex = "output_index"
    }

    struct OutputItem: Decodable {
        var id: String?
        var type: String
        var callID: String?
        var name: String?
        var arguments: String?

        enum CodingKeys: String, CodingKey {
            case id, type, name, arguments
            case callID = "call_id"
        }
    }
    /// `response.completed`, `response.failed`, `response.incomplete`
    var response: ResponseObject?
    /// `error` (top-level fields, or nested in `error` by some servers)
    var code: String?
    var message: String?
    var error: ErrorObject?

    struct ResponseObject: Decodable {
        var status: String?
        var usage: Usage?
        var error: ErrorObject?
        var incompleteDetails: IncompleteDetails?

        enum CodingKeys: String, CodingKey {
            case status, usage, error
            case incompleteDetails = "incomplete_details"
        }
    }

    struct Usage: Decodable {
        var inputTokens: Int
        var outputTokens: Int
        var totalTokens: Int?

        enum CodingKeys: String, CodingKey {
            case inputTokens = "input_tokens"
            case outputTokens = "output_tokens"
            case totalTokens = "total_tokens"
        }
    }

    struct ErrorObject: Decodable {
        var code: String?
        var message: String?
        var type: String?
    }

    struct IncompleteDetails: Decodable {
        var reason: String?
    }
}
