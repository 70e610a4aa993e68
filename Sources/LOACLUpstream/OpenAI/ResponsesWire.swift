import Foundation

/// Request body of `POST /v1/responses` (the fields LOACL sends).
struct ResponsesRequestBody: Encodable {
    var model: String
    var instructions: String?
    var input: [InputMessage]
    var stream: Bool
    /// LOACL keeps the conversation itself; nothing needs to be stored upstream.
    var store: Bool = false
    var temperature: Double?
    var maxOutputTokens: Int?

    enum CodingKeys: String, CodingKey {
        case model, instructions, input, stream, store, temperature
        case maxOutputTokens = "max_output_tokens"
    }

    struct InputMessage: Encodable {
        var role: String
        var content: Content
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
        input = request.history.map { InputMessage(role: $0.role.rawValue, content: .text($0.content)) }
        let text = request.userTextWithInlineAttachments
        let binaries = request.binaryAttachments
        if binaries.isEmpty {
            input.append(InputMessage(role: "user", content: .text(text)))
        } else {
            var parts = [Part(type: "input_text", text: text)]
            for file in binaries {
                if AttachmentKind(mimeType: file.mimeType) == .image {
                    parts.append(Part(type: "input_image", imageURL: file.dataURL))
                } else {
                    parts.append(Part(type: "input_file", filename: file.filename, fileData: file.dataURL))
                }
            }
            input.append(InputMessage(role: "user", content: .parts(parts)))
        }
    }
}

/// One event of the Responses stream. Only the fields LOACL reads; every event has `type`.
struct ResponsesStreamEvent: Decodable {
    var type: String
    /// `response.output_text.delta`
    var delta: String?
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
