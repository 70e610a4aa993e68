/// The one thing LOACL asks of an upstream model: stream a reply to a conversation, and
/// suggest follow-up questions. One implementation per provider: the OpenAI Responses API, any
/// OpenAI-compatible Chat Completions server, and the offline provider that needs no network.
public protocol ChatProvider: Sendable {
    /// "openai-responses", "openai-chat" or "offline"; stored in the reply's metadata.
    var name: String { get }

    /// Streams the reply: `.delta` events in order, then exactly one `.completed`.
    /// Errors are `ChatProviderError`. Cancelling the consuming task cancels the upstream request.
    func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error>

    /// `streamReply`, calling `sending` once the request has been handed to the connection (or
    /// when the stream ends without that): a caller with other work to do can let the request
    /// leave first. It may be called more than once; the first call is the one that counts.
    func streamReply(_ request: ChatRequest, sending: @escaping @Sendable () -> Void) -> AsyncThrowingStream<ChatEvent, any Error>

    /// Up to `count` short follow-up questions the user might ask next.
    func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String]

    /// What attachments this provider accepts; nil when it takes any (the offline provider).
    var acceptedAttachments: AttachmentLimits? { get }
}

extension ChatProvider {
    public var acceptedAttachments: AttachmentLimits? { nil }

    /// For providers that send nothing over the network: `sending` at once.
    public func streamReply(_ request: ChatRequest, sending: @escaping @Sendable () -> Void) -> AsyncThrowingStream<ChatEvent, any Error> {
        sending()
        return streamReply(request)
    }
}

public enum ChatRole: String, Sendable, Hashable {
    case system, user, assistant, tool
}

/// One turn of the conversation history: a message, an assistant turn that called functions
/// (`toolCalls`, with any text it wrote first), or a function's output (`.tool`, `toolCallID`).
public struct ChatTurn: Sendable, Hashable {
    public var role: ChatRole
    public var content: String
    public var toolCalls: [ChatToolCall]
    public var toolCallID: String?

    public init(role: ChatRole, content: String, toolCalls: [ChatToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }
}

/// A file sent along with the user's message.
public struct ChatAttachment: Sendable, Hashable {
    public var filename: String
    public var mimeType: String
    public var data: [UInt8]
    public init(filename: String, mimeType: String, data: [UInt8]) {
        self.filename = filename
        self.mimeType = mimeType
        self.data = data
    }
}

/// Everything a provider needs for one reply.
public struct ChatRequest: Sendable, Equatable {
    /// Upstream model name ("" = provider default).
    public var model: String
    /// The assistant's instructions (system prompt).
    public var instructions: String
    /// Earlier turns, oldest first, already trimmed to the history token budget.
    public var history: [ChatTurn]
    /// The new user message.
    public var userMessage: String
    public var attachments: [ChatAttachment]
    public var temperature: Double?
    public var maxOutputTokens: Int?
    /// The tenant's decrypted upstream API key, held only for this request; nil for offline.
    public var apiKey: String?
    /// Extra context the offline provider answers from (e.g. the assistant's guided questions).
    public var guidedQuestions: [String]
    /// Functions the model may call.
    public var tools: [ChatTool]
    /// This turn's function-call steps so far, after the user message: assistant turns with
    /// `toolCalls` and the `.tool` turns with their outputs, in order.
    public var continuation: [ChatTurn]

    public init(model: String = "", instructions: String = "", history: [ChatTurn] = [], userMessage: String,
                attachments: [ChatAttachment] = [], temperature: Double? = nil, maxOutputTokens: Int? = nil,
                apiKey: String? = nil, guidedQuestions: [String] = [], tools: [ChatTool] = [], continuation: [ChatTurn] = []) {
        self.tools = tools
        self.continuation = continuation
        self.model = model
        self.instructions = instructions
        self.history = history
        self.userMessage = userMessage
        self.attachments = attachments
        self.temperature = temperature
        self.maxOutputTokens = maxOutputTokens
        self.apiKey = apiKey
        self.guidedQuestions = guidedQuestions
    }
}

/// How one reply (or one function-calling step) ended: token counts (the provider's own when it
/// reports them), an early stop, and the function calls the model made.
public struct ChatUsage: Sendable, Hashable {
    public var inputTokens: Int
    public var outputTokens: Int
    public var totalTokens: Int
    /// True when the counts are `TokenEstimator` estimates (offline provider, or an upstream
    /// that reported no usage) rather than the upstream's own.
    public var isEstimate: Bool
    /// Set when the upstream stopped the reply early but cleanly (Responses
    /// `response.incomplete`, Chat Completions `finish_reason` "length" / "content_filter"):
    /// "max_output_tokens" or "content_filter". The streamed text is still the reply.
    public var incompleteReason: String?
    /// The function calls the model ended this step with (Responses `function_call` items,
    /// Chat Completions `tool_calls` with finish reason "tool_calls"); empty for a reply.
    public var toolCalls: [ChatToolCall] = []
    public init(inputTokens: Int, outputTokens: Int, totalTokens: Int, isEstimate: Bool = false,
                incompleteReason: String? = nil) {
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.totalTokens = totalTokens
        self.isEstimate = isEstimate
        self.incompleteReason = incompleteReason
    }
}

extension ChatUsage {
    /// Counts as an upstream reported them. They are untrusted: each is clamped to
    /// 0...Int32.max (what PostgreSQL's `integer` columns hold), so that no sum of them can
    /// overflow (fuzzing found `prompt_tokens` near Int.max crashing the decoder's own sum); the
    /// total, when not reported, is the sum of the other two.
    init(reportedInput input: Int, output: Int, total: Int?) {
        let clamp = { (count: Int) in min(max(count, 0), Int(Int32.max)) }
        let input = clamp(input), output = clamp(output)
        self.init(inputTokens: input, outputTokens: output, totalTokens: clamp(total ?? input + output))
    }
}

public enum ChatEvent: Sendable, Hashable {
    /// The next piece of reply text.
    case delta(String)
    /// The next piece of a function call the model is writing.
    case toolCallDelta(ChatToolCallDelta)
    /// The reply (or the step, when `toolCalls` is not empty) is complete.
    case completed(ChatUsage)
}

/// Why an upstream reply failed. The service maps these to RPC status codes.
public enum ChatProviderError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The upstream rejected the credentials (401/403) → UNAUTHENTICATED/FAILED_PRECONDITION.
    case unauthorized(String)
    /// Rate limited or out of quota (429), after retries → RESOURCE_EXHAUSTED.
    case rateLimited(String)
    /// Unreachable, 5xx after retries, connection dropped, malformed stream → UNAVAILABLE.
    case unavailable(String)
    /// The upstream refused or failed the request (response.failed, 400) → FAILED_PRECONDITION.
    case failed(String)

    public var description: String {
        switch self {
        case .unauthorized(let m): "upstream rejected the API key: \(m)"
        case .rateLimited(let m): "upstream rate limit: \(m)"
        case .unavailable(let m): "upstream unavailable: \(m)"
        case .failed(let m): "upstream failed: \(m)"
        }
    }
}
