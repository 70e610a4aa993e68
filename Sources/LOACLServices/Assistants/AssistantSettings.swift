import Foundation
import LOACLCore
import LOACLMessages

/// An assistant's configuration as stored in `assistants.configuration` (a JSON object with
/// snake_case keys; absent keys mean "default"), with the checks and defaults the API promises.
public struct AssistantSettings: Sendable, Equatable {
    public static let providers: Set<String> = ["offline", "openai-responses", "openai-chat"]
    public static let defaultGuestTTLSeconds: UInt32 = 86_400
    public static let defaultFollowUpCount = 3

    public var model = ""
    public var temperature: Double?
    public var maxOutputTokens: UInt32 = 0
    public var maxHistoryTokens: UInt32 = 0
    public var guestSessionTTLSeconds: UInt32 = 0
    public var tokensPerSessionPerDay: UInt64 = 0
    public var messagesPerGuestPerDay: UInt32 = 0
    public var messagesPerSessionPerMinute: UInt32 = 0
    public var followUpCount: UInt32?
    public var provider = ""
    /// Functions the model may call (`configuration.functions`).
    public var functions: [FunctionDeclaration] = []
    public var maxToolRounds: UInt32?
    public var toolOutputTimeoutSeconds: UInt32 = 0
    public var fileSearchTopK: UInt32 = 0
    public var textSearchConfig = ""
    /// `file_search` is in the assistant's `tools_enabled` (known in a turn: begin_turn hands
    /// `tools_enabled` back inside the configuration; never stored there).
    public var fileSearch = false

    public static let defaultMaxToolRounds: UInt32 = 8
    public static let defaultToolOutputTimeoutSeconds: UInt32 = 600

    public init() {}

    /// One declared function, as stored (`{"name","description","parameters","strict"}`;
    /// `parameters` is the JSON Schema object itself, not text).
    public struct FunctionDeclaration: Sendable, Equatable {
        public var name: String
        public var description: String
        /// The JSON Schema as compact JSON text.
        public var parametersJSON: String
        public var strict: Bool
    }

    /// Whether any quota or rate limit is set (turns then count earlier sends under a lock).
    public var hasQuotas: Bool {
        tokensPerSessionPerDay > 0 || messagesPerGuestPerDay > 0 || messagesPerSessionPerMinute > 0
    }

    /// Validates the API message (field names in errors are prefixed `configuration.`).
    init(validating c: Loacl_V1_AssistantConfiguration) throws(RPCError) {
        model = try Validate.text(c.model, "configuration.model", max: 200)
        if c.hasTemperature {
            let t = c.temperature.value
            guard t.isFinite, (0...2).contains(t) else {
                throw RPCError.invalidArgument("configuration.temperature must be between 0.0 and 2.0")
            }
            temperature = t
        }
        guard c.maxOutputTokens <= 128_000 else {
            throw RPCError.invalidArgument("configuration.max_output_tokens must be at most 128000")
        }
        maxOutputTokens = c.maxOutputTokens
        guard c.maxHistoryTokens <= 1_000_000 else {
            throw RPCError.invalidArgument("configuration.max_history_tokens must be at most 1000000")
        }
        maxHistoryTokens = c.maxHistoryTokens
        guard c.guestSessionTtlSeconds == 0 || (60...2_592_000).contains(c.guestSessionTtlSeconds) else {
            throw RPCError.invalidArgument("configuration.guest_session_ttl_seconds must be 0 or 60-2592000")
        }
        guestSessionTTLSeconds = c.guestSessionTtlSeconds
        guard c.tokensPerSessionPerDay <= UInt64(Int64.max) else {
            throw RPCError.invalidArgument("configuration.tokens_per_session_per_day is too large")
        }
        tokensPerSessionPerDay = c.tokensPerSessionPerDay
        messagesPerGuestPerDay = c.messagesPerGuestPerDay
        messagesPerSessionPerMinute = c.messagesPerSessionPerMinute
        if c.hasFollowUpCount {
            guard c.followUpCount.value <= 5 else {
                throw RPCError.invalidArgument("configuration.follow_up_count must be 0-5")
            }
            followUpCount = c.followUpCount.value
        }
        guard c.provider.isEmpty || Self.providers.contains(c.provider) else {
            throw RPCError.invalidArgument("configuration.provider must be one of \(Self.providers.sorted().joined(separator: ", ")) or empty")
        }
        provider = c.provider
        functions = try Self.functions(validating: c.functions)
        if c.hasMaxToolRounds {
            guard (1...64).contains(c.maxToolRounds.value) else {
                throw RPCError.invalidArgument("configuration.max_tool_rounds must be 1-64")
            }
            maxToolRounds = c.maxToolRounds.value
        }
        guard c.toolOutputTimeoutSeconds <= 86_400 else {
            throw RPCError.invalidArgument("configuration.tool_output_timeout_seconds must be 0-86400")
        }
        toolOutputTimeoutSeconds = c.toolOutputTimeoutSeconds
        guard c.fileSearchTopK <= 20 else { throw RPCError.invalidArgument("configuration.file_search_top_k must be 0-20") }
        fileSearchTopK = c.fileSearchTopK
        guard c.textSearchConfig.isEmpty || (c.textSearchConfig.utf8.count <= 63
              && c.textSearchConfig.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || $0 == 95 })) else {
            throw RPCError.invalidArgument("configuration.text_search_config must be a PostgreSQL text search configuration name ([a-z_]{1,63})")
        }
        textSearchConfig = c.textSearchConfig
    }

    static let maxFunctions = 64
    static let maxParametersBytes = 16 * 1024

    /// Checks declarations: names `[a-zA-Z0-9_-]{1,64}` and unique, descriptions ≤ 1024
    /// characters, parameters a JSON object with `"type": "object"` of at most 16 KiB. Errors
    /// name the function and the field.
    static func functions(validating tools: [Loacl_V1_FunctionTool]) throws(RPCError) -> [FunctionDeclaration] {
        guard tools.count <= maxFunctions else {
            throw RPCError.invalidArgument("configuration.functions has more than \(maxFunctions) entries")
        }
        var seen: Set<String> = []
        var declarations: [FunctionDeclaration] = []
        for (index, tool) in tools.enumerated() {
            let name = tool.name
            let label = "configuration.functions[\(index)]" + (name.isEmpty ? "" : " (\(name.prefix(64)))")
            guard (1...64).contains(name.utf8.count),
                  name.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) || $0 == 95 || $0 == 45 }) else {
                throw RPCError.invalidArgument("\(label).name must match [a-zA-Z0-9_-]{1,64}")
            }
            guard seen.insert(name).inserted else { throw RPCError.invalidArgument("\(label).name is declared twice") }
            guard tool.description_p.count <= 1024 else {
                throw RPCError.invalidArgument("\(label).description must be at most 1024 characters")
            }
            let text = tool.parametersJson.isEmpty ? #"{"type":"object","properties":{}}"# : tool.parametersJson
            guard text.utf8.count <= maxParametersBytes else {
                throw RPCError.invalidArgument("\(label).parameters_json must be at most 16 KiB")
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
                  object["type"] as? String == "object" else {
                throw RPCError.invalidArgument("\(label).parameters_json must be a JSON object with \"type\": \"object\"")
            }
            let compact = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? text
            declarations.append(FunctionDeclaration(name: name, description: tool.description_p, parametersJSON: compact, strict: tool.strict))
        }
        return declarations
    }

    /// Reads the stored JSON; unknown keys are ignored, malformed values fall back to defaults.
    init(json: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return }
        func number(_ key: String) -> NSNumber? { object[key] as? NSNumber }
        model = object["model"] as? String ?? ""
        temperature = number("temperature")?.doubleValue
        maxOutputTokens = number("max_output_tokens")?.uint32Value ?? 0
        maxHistoryTokens = number("max_history_tokens")?.uint32Value ?? 0
        guestSessionTTLSeconds = number("guest_session_ttl_seconds")?.uint32Value ?? 0
        tokensPerSessionPerDay = number("tokens_per_session_per_day")?.uint64Value ?? 0
        messagesPerGuestPerDay = number("messages_per_guest_per_day")?.uint32Value ?? 0
        messagesPerSessionPerMinute = number("messages_per_session_per_minute")?.uint32Value ?? 0
        followUpCount = number("follow_up_count")?.uint32Value
        provider = object["provider"] as? String ?? ""
        maxToolRounds = number("max_tool_rounds")?.uint32Value
        toolOutputTimeoutSeconds = number("tool_output_timeout_seconds")?.uint32Value ?? 0
        fileSearchTopK = number("file_search_top_k")?.uint32Value ?? 0
        textSearchConfig = object["text_search_config"] as? String ?? ""
        fileSearch = (object["tools_enabled"] as? [String])?.contains("file_search") ?? false
        functions = (object["functions"] as? [[String: Any]] ?? []).compactMap { entry in
            guard let name = entry["name"] as? String else { return nil }
            let parameters = entry["parameters"].flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) }
            return FunctionDeclaration(name: name, description: entry["description"] as? String ?? "",
                                       parametersJSON: parameters.map { String(decoding: $0, as: UTF8.self) } ?? #"{"type":"object"}"#,
                                       strict: entry["strict"] as? Bool ?? false)
        }
    }

    /// Stored form: only the keys that differ from the defaults.
    var json: String {
        var object: [String: Any] = [:]
        if !model.isEmpty { object["model"] = model }
        if let temperature { object["temperature"] = temperature }
        if maxOutputTokens > 0 { object["max_output_tokens"] = maxOutputTokens }
        if maxHistoryTokens > 0 { object["max_history_tokens"] = maxHistoryTokens }
        if guestSessionTTLSeconds > 0 { object["guest_session_ttl_seconds"] = guestSessionTTLSeconds }
        if tokensPerSessionPerDay > 0 { object["tokens_per_session_per_day"] = tokensPerSessionPerDay }
        if messagesPerGuestPerDay > 0 { object["messages_per_guest_per_day"] = messagesPerGuestPerDay }
        if messagesPerSessionPerMinute > 0 { object["messages_per_session_per_minute"] = messagesPerSessionPerMinute }
        if let followUpCount { object["follow_up_count"] = followUpCount }
        if !provider.isEmpty { object["provider"] = provider }
        if let maxToolRounds { object["max_tool_rounds"] = maxToolRounds }
        if toolOutputTimeoutSeconds > 0 { object["tool_output_timeout_seconds"] = toolOutputTimeoutSeconds }
        if fileSearchTopK > 0 { object["file_search_top_k"] = fileSearchTopK }
        if !textSearchConfig.isEmpty { object["text_search_config"] = textSearchConfig }
        if !functions.isEmpty {
            object["functions"] = functions.map { function -> [String: Any] in
                var entry: [String: Any] = ["name": function.name,
                                            "parameters": (try? JSONSerialization.jsonObject(with: Data(function.parametersJSON.utf8))) ?? [:]]
                if !function.description.isEmpty { entry["description"] = function.description }
                if function.strict { entry["strict"] = true }
                return entry
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The `guest_session_ttl` column value.
    var guestTTLInterval: String { "\(guestSessionTTLSeconds == 0 ? Self.defaultGuestTTLSeconds : guestSessionTTLSeconds) seconds" }

    var message: Loacl_V1_AssistantConfiguration {
        var c = Loacl_V1_AssistantConfiguration()
        c.model = model
        if let temperature {
            var value = Loacl_V1_DoubleValue()
            value.value = temperature
            c.temperature = value
        }
        c.maxOutputTokens = maxOutputTokens
        c.maxHistoryTokens = maxHistoryTokens
        c.guestSessionTtlSeconds = guestSessionTTLSeconds
        c.tokensPerSessionPerDay = tokensPerSessionPerDay
        c.messagesPerGuestPerDay = messagesPerGuestPerDay
        c.messagesPerSessionPerMinute = messagesPerSessionPerMinute
        if let followUpCount {
            var value = Loacl_V1_UInt32Value()
            value.value = followUpCount
            c.followUpCount = value
        }
        c.provider = provider
        c.functions = functions.map { function in
            var tool = Loacl_V1_FunctionTool()
            tool.name = function.name
            tool.description_p = function.description
            tool.parametersJson = function.parametersJSON
            tool.strict = function.strict
            return tool
        }
        if let maxToolRounds {
            var value = Loacl_V1_UInt32Value()
            value.value = maxToolRounds
            c.maxToolRounds = value
        }
        c.toolOutputTimeoutSeconds = toolOutputTimeoutSeconds
        c.fileSearchTopK = fileSearchTopK
        c.textSearchConfig = textSearchConfig
        return c
    }
}
