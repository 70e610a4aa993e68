/// Builds `{baseURL}/v1/<path>`. A base URL that already ends in `/v1` (as self-hosted servers
/// often document theirs) is not given a second one.
enum OpenAIEndpoint {
    static func url(base: String, path: String) -> String {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        if base.hasSuffix("/v1") { base.removeLast(3) }
        return "\(base)/v1/\(path)"
    }
}
