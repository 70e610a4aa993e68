import AsyncHTTPClient

/// Picks a provider by name. Holds the one `HTTPClient` every OpenAI provider shares, so
/// connections to an upstream are pooled across requests and tenants. Create one per process
/// and call `shutdown()` before exit.
public final class ChatProviderFactory: Sendable {
    public static let providerNames = ["offline", "openai-responses", "openai-chat"]

    public let configuration: UpstreamConfiguration
    public let offline: OfflineProvider
    public let responses: OpenAIResponsesProvider
    public let chat: OpenAIChatCompletionsProvider
    private let httpClient: HTTPClient
    private let ownsClient: Bool

    /// `httpClient`: a client to share (not shut down by this factory); nil creates one.
    public init(configuration: UpstreamConfiguration = UpstreamConfiguration(), httpClient: HTTPClient? = nil) {
        self.configuration = configuration
        ownsClient = httpClient == nil
        let client = httpClient ?? UpstreamTransport.makeHTTPClient(connectTimeout: configuration.connectTimeout,
                                                                    readTimeout: configuration.readTimeout)
        self.httpClient = client
        let transport = UpstreamTransport(client: client, retry: configuration.retry, requestTimeout: configuration.requestTimeout)
        offline = OfflineProvider(wordDelay: configuration.offlineWordDelay)
        responses = OpenAIResponsesProvider(baseURL: configuration.responsesBaseURL, defaultModel: configuration.defaultModel,
                                            transport: transport, attachmentLimits: configuration.attachmentLimits)
        chat = OpenAIChatCompletionsProvider(baseURL: configuration.chatBaseURL,
                                             defaultModel: configuration.chatDefaultModel ?? configuration.defaultModel,
                                             legacyMaxTokens: configuration.chatLegacyMaxTokens, transport: transport,
                                             attachmentLimits: configuration.attachmentLimits)
    }

    /// The provider name an assistant ends up with: its own setting when not empty, else the
    /// configured default, else "openai-responses" with an upstream key and "offline" without.
    public func resolvedName(assistantProvider: String, hasAPIKey: Bool) -> String {
        if !assistantProvider.isEmpty { return assistantProvider }
        if let name = configuration.defaultProvider { return name }
        return hasAPIKey ? "openai-responses" : "offline"
    }

    /// The provider called `name`; `.failed` for an unknown name.
    public func provider(named name: String) throws(ChatProviderError) -> any ChatProvider {
        switch name {
        case "offline": return offline
        case "openai-responses": return responses
        case "openai-chat": return chat
        default:
            throw .failed("unknown provider \"\(name)\" (expected \(Self.providerNames.joined(separator: ", ")))")
        }
    }

    /// `provider(named: resolvedName(...))`.
    public func provider(assistantProvider: String, hasAPIKey: Bool) throws(ChatProviderError) -> any ChatProvider {
        try provider(named: resolvedName(assistantProvider: assistantProvider, hasAPIKey: hasAPIKey))
    }

    /// Closes pooled connections (only of a client this factory created).
    public func shutdown() async throws {
        if ownsClient { try await httpClient.shutdown() }
    }
}
