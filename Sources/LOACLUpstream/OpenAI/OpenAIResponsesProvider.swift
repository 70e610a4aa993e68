import Foundation

/// The OpenAI Responses API: `POST {baseURL}/v1/responses` with `stream: true`.
public struct OpenAIResponsesProvider: ChatProvider {
    public var name: String { "openai-responses" }
    public let baseURL: String
    /// Model used when the request names none.
    public let defaultModel: String
    public let transport: UpstreamTransport
    public let attachmentLimits: AttachmentLimits

    public init(baseURL: String = "https://api.openai.com", defaultModel: String = "gpt-4.1-mini",
                transport: UpstreamTransport, attachmentLimits: AttachmentLimits = AttachmentLimits()) {
        self.baseURL = baseURL
        self.defaultModel = defaultModel
        self.transport = transport
        self.attachmentLimits = attachmentLimits
    }

    public var endpointURL: String { OpenAIEndpoint.url(base: baseURL, path: "responses") }

    public func streamReply(_ request: ChatRequest) -> AsyncThrowingStream<ChatEvent, any Error> {
        let body: [UInt8]
        do {
            try attachmentLimits.validate(request.attachments)
            body = Array(try JSONEncoder().encode(ResponsesRequestBody(request, defaultModel: defaultModel)))
        } catch {
            return AsyncThrowingStream { $0.finish(throwing: error as? ChatProviderError ?? .failed("cannot encode the request: \(error)")) }
        }
        let estimate = TokenEstimator.estimateInput(request)
        return transport.stream(url: endpointURL, apiKey: request.apiKey, body: body) {
            ResponsesStreamDecoder(estimatedInputTokens: estimate)
        }
    }

    public func followUps(for request: ChatRequest, reply: String, count: Int) async throws -> [String] {
        guard count > 0 else { return [] }
        let text = try await collectReply(FollowUpPrompt.request(for: request, reply: reply, count: count))
        return FollowUpPrompt.parse(text, count: count)
    }
}
