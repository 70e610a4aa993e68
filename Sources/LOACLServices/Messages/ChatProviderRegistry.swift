import LOACLUpstream

/// The upstream providers the server can use, by name, and the one used when an assistant's
/// `configuration.provider` is empty. Built by loacld from its options.
public struct ChatProviderRegistry: Sendable {
    private let providers: [String: any ChatProvider]
    public let defaultName: String

    public init(_ providers: [any ChatProvider], defaultName: String) {
        var byName: [String: any ChatProvider] = [:]
        for provider in providers { byName[provider.name] = provider }
        self.providers = byName
        self.defaultName = defaultName
    }

    /// The provider for an assistant's configured name ("" = default); nil when not configured.
    public func provider(named name: String) -> (any ChatProvider)? {
        providers[name.isEmpty ? defaultName : name]
    }

    public var names: [String] { providers.keys.sorted() }
}
