/// Any OpenAI-compatible Chat Completions server (OpenAI, vLLM, llama.cpp, Ollama, LM Studio…):
/// `POST {baseURL}/v1/chat/completions` with `stream: true` and `stream_options.include_usage`.
public struct OpenAIChatCompletionsProvider: ChatProvider {
    public var name: String { "openai-chat" }
    public let baseURL: String
    public let defaultModel: String
    /// Send `max_tokens` instead of `max_completion_tokens`.
    public let legacyMaxTokens: Bool
    public let transport: UpstreamTransport
    public let attachmentLimits: AttachmentLimits
    public var acceptedAttachments: AttachmentLimits? { attachmentLimits }

    public init(baseURL: String = "https://api.openai.com", defaultModel: String = "gpt-4.1-mini",
                legacyMaxTokens: Bool = false, transport: UpstreamTransport,
                attachmentLimits: AttachmentLimits = AttachmentLimits()) {
        self.baseURL = baseURL
        self.defaultModel = defaultModel
        self.legacyMaxTokens = legacyMaxTokens
        self.transport = transport
        self.attachmentLimits = attachmentLimits
    }

    public var endpointURL: String { OpenAIEndpoint.url(base: baseURL, path: "chat/completions") }

    public func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        stream(request, sending: nil)
    }

    public func streamReply(_ request: ChatRequest, sending: @escaping @Sendable () -> Void) -> AsyncThrowingStream<ChatEvent, any Error> {
        stream(request, sending: sending)
    }

    private func stream(_ request: ChatRequest, sending: (@Sendable () -> Void)?) -> AsyncThrowingStream<ChatEvent, any Error> {
        transport.streamJSON(url: endpointURL, request: request, limits: attachmentLimits,
                             body: { ChatCompletionsRequestBody(request, defaultModel: defaultModel, legacyMaxTokens: legacyMaxTokens) },
                             makeDecoder: ChatCompletionsStreamDecoder.init(estimatedInputTokens:), sending: sending)
    }

    public func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String] {
        try await FollowUpPrompt.ask(self, for: request, reply: reply, count: count)
    }
}
