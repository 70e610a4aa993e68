/// The OpenAI Responses API: `POST {baseURL}/v1/responses` with `stream: true`.
public struct OpenAIResponsesProvider: ChatProvider {
    public var name: String { "openai-responses" }
    public let baseURL: String
    /// Model used when the request names none.
    public let defaultModel: String
    public let transport: UpstreamTransport
    public let attachmentLimits: AttachmentLimits
    public var acceptedAttachments: AttachmentLimits? { attachmentLimits }

    public init(baseURL: String = "https://api.openai.com", defaultModel: String = "gpt-4.1-mini",
                transport: UpstreamTransport, attachmentLimits: AttachmentLimits = AttachmentLimits()) {
        self.baseURL = baseURL
        self.defaultModel = defaultModel
        self.transport = transport
        self.attachmentLimits = attachmentLimits
    }

    public var endpointURL: String { OpenAIEndpoint.url(base: baseURL, path: "responses") }

    public func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        stream(request, sending: nil)
    }

    public func streamReply(_ request: ChatRequest, sending: @escaping @Sendable () -> Void) -> AsyncThrowingStream<ChatEvent, any Error> {
        stream(request, sending: sending)
    }

    private func stream(_ request: ChatRequest, sending: (@Sendable () -> Void)?) -> AsyncThrowingStream<ChatEvent, any Error> {
        transport.streamJSON(url: endpointURL, request: request, limits: attachmentLimits,
                             body: { ResponsesRequestBody(request, defaultModel: defaultModel) },
                             makeDecoder: ResponsesStreamDecoder.init(estimatedInputTokens:), sending: sending)
    }

    public func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String] {
        try await FollowUpPrompt.ask(self, for: request, reply: reply, count: count)
    }
}
