/// Server-wide settings for upstream providers. Tenants' API keys are not here: they travel
/// per request in `ChatRequest.apiKey`.
public struct UpstreamConfiguration: Sendable, Hashable {
    /// Provider for assistants that name none: "offline", "openai-responses" or "openai-chat".
    /// nil: "openai-responses" when the tenant has an upstream key, "offline" otherwise.
    public var defaultProvider: String?
    /// Base URL of the Responses API (without `/v1`).
    public var responsesBaseURL: String
    /// Base URL of the Chat Completions server (OpenAI or any compatible server).
    public var chatBaseURL: String
    /// Model for assistants that name none.
    public var defaultModel: String
    /// Model for "openai-chat" assistants that name none (self-hosted servers have their own
    /// model names); nil uses `defaultModel`.
    public var chatDefaultModel: String?
    /// Send `max_tokens` instead of `max_completion_tokens` to the chat server.
    public var chatLegacyMaxTokens: Bool
    public var connectTimeout: Duration
    /// Longest silence tolerated between two body chunks of a streaming reply.
    public var readTimeout: Duration
    /// Deadline of a whole upstream request, reply streaming included.
    public var requestTimeout: Duration
    public var retry: RetryPolicy
    public var attachmentLimits: AttachmentLimits
    /// Pause between the offline provider's words.
    public var offlineWordDelay: Duration

    public init(defaultProvider: String? = nil, responsesBaseURL: String = "https://api.openai.com",
                chatBaseURL: String = "https://api.openai.com", defaultModel: String = "gpt-4.1-mini",
                chatDefaultModel: String? = nil, chatLegacyMaxTokens: Bool = false,
                connectTimeout: Duration = .seconds(10), readTimeout: Duration = .seconds(120),
                requestTimeout: Duration = .seconds(600), retry: RetryPolicy = RetryPolicy(),
                attachmentLimits: AttachmentLimits = AttachmentLimits(), offlineWordDelay: Duration = .milliseconds(5)) {
        self.defaultProvider = defaultProvider
        self.responsesBaseURL = responsesBaseURL
        self.chatBaseURL = chatBaseURL
        self.defaultModel = defaultModel
        self.chatDefaultModel = chatDefaultModel
        self.chatLegacyMaxTokens = chatLegacyMaxTokens
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.attachmentLimits = attachmentLimits
        self.offlineWordDelay = offlineWordDelay
    }

    /// Reads `LOACL_UPSTREAM_*` variables (docs/PROVIDERS.md lists them); unset ones keep
    /// their defaults. Throws `ChatProviderError.failed` for an unparseable value.
    public static func fromEnvironment(_ environment: [String: String]) throws(ChatProviderError) -> UpstreamConfiguration {
        var c = UpstreamConfiguration()
        func value(_ name: String) -> String? {
            guard let v = environment[name], !v.isEmpty else { return nil }
            return v
        }
        func milliseconds(_ name: String) throws(ChatProviderError) -> Duration? {
            guard let text = value(name) else { return nil }
            guard let ms = Int64(text), ms >= 0 else { throw .failed("\(name) must be a number of milliseconds, not \(text)") }
            return .milliseconds(ms)
        }
        if let p = value("LOACL_UPSTREAM_PROVIDER") {
            guard ChatProviderFactory.providerNames.contains(p) else {
                throw .failed("LOACL_UPSTREAM_PROVIDER must be one of \(ChatProviderFactory.providerNames.joined(separator: ", ")), not \(p)")
            }
            c.defaultProvider = p
        }
        if let v = value("LOACL_UPSTREAM_RESPONSES_URL") { c.responsesBaseURL = v }
        if let v = value("LOACL_UPSTREAM_CHAT_URL") { c.chatBaseURL = v }
        if let v = value("LOACL_UPSTREAM_MODEL") { c.defaultModel = v }
        if let v = value("LOACL_UPSTREAM_CHAT_MODEL") { c.chatDefaultModel = v }
        if let v = value("LOACL_UPSTREAM_CHAT_LEGACY_MAX_TOKENS") { c.chatLegacyMaxTokens = v == "1" || v == "true" }
        if let d = try milliseconds("LOACL_UPSTREAM_CONNECT_TIMEOUT_MS") { c.connectTimeout = d }
        if let d = try milliseconds("LOACL_UPSTREAM_READ_TIMEOUT_MS") { c.readTimeout = d }
        if let d = try milliseconds("LOACL_UPSTREAM_REQUEST_TIMEOUT_MS") { c.requestTimeout = d }
        if let d = try milliseconds("LOACL_UPSTREAM_RETRY_INITIAL_MS") { c.retry.initialDelay = d }
        if let text = value("LOACL_UPSTREAM_RETRY_ATTEMPTS") {
            guard let n = Int(text), n >= 1 else { throw .failed("LOACL_UPSTREAM_RETRY_ATTEMPTS must be 1 or more, not \(text)") }
            c.retry.maxAttempts = n
        }
        if let d = try milliseconds("LOACL_OFFLINE_WORD_DELAY_MS") { c.offlineWordDelay = d }
        return c
    }
}
