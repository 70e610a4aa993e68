import Foundation

/// A message's `content` in both OpenAI APIs: a plain string, or a list of typed parts when
/// images or files come along.
enum WireContent<Part: Encodable>: Encodable {
    case text(String)
    case parts([Part])

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .parts(let parts): try container.encode(parts)
        }
    }
}

extension UpstreamTransport {
    /// Validates attachments, encodes `body` and streams the reply decoded by `makeDecoder`
    /// (given the request's estimated input tokens). Errors before the network end the stream.
    /// `sending`: see `ChatProvider.streamReply(_:sending:)`.
    func streamJSON<Body: Encodable, Decoder: StreamDecoder>(
        url: String, request: ChatRequest, limits: AttachmentLimits, body: () -> Body,
        makeDecoder: @escaping @Sendable (Int) -> Decoder, sending: (@Sendable () -> Void)? = nil
    ) -> AsyncThrowingStream<ChatEvent, any Error> {
        let bytes: [UInt8]
        do {
            try limits.validate(request.attachments)
            bytes = Array(try JSONEncoder().encode(body()))
        } catch {
            let failure = error as? ChatProviderError ?? .failed("cannot encode the request: \(error)")
            sending?()
            return AsyncThrowingStream { $0.finish(throwing: failure) }
        }
        let estimate = TokenEstimator.estimateInput(request)
        return stream(url: url, apiKey: request.apiKey, body: bytes, sending: sending) { makeDecoder(estimate) }
    }
}
