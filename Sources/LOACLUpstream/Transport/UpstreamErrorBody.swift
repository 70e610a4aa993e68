import Foundation

/// OpenAI's error object: `{"error": {"message", "type", "code", "param"}}`. OpenAI-compatible
/// servers mostly follow it; some send a bare string or `{"message": …}`.
struct UpstreamErrorBody: Sendable, Hashable {
    var message: String
    var type: String?
    var code: String?

    /// Reads whatever error shape the body has; falls back to the raw text (trimmed).
    init(parsing bytes: [UInt8]) {
        let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        let dict = object as? [String: Any]
        if let error = dict?["error"] as? [String: Any] {
            self.init(fields: error)
        } else if let error = dict?["error"] as? String {
            self.init(message: error, type: nil, code: nil)
        } else if let dict, dict["message"] != nil {
            self.init(fields: dict)
        } else {
            let text = String(decoding: bytes.prefix(500), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            self.init(message: text, type: nil, code: nil)
        }
    }

    init(fields: [String: Any]) {
        self.init(message: fields["message"] as? String ?? "", type: fields["type"] as? String,
                  code: (fields["code"] as? String) ?? (fields["code"] as? Int).map(String.init))
    }

    init(message: String, type: String?, code: String?) {
        self.message = message
        self.type = type
        self.code = code
    }

    /// "message (code)" for error texts.
    var summary: String {
        let detail = [code, type].compactMap { $0 }.first { !$0.isEmpty }
        switch (message.isEmpty, detail) {
        case (true, nil): return "no details"
        case (true, let d?): return d
        case (false, nil): return message
        case (false, let d?): return "\(message) (\(d))"
        }
    }

    /// Maps an error reported inside a stream (`error` event, `response.failed`, a chunk with
    /// `error`) by its code.
    func streamError(default fallback: (String) -> ChatProviderError) -> ChatProviderError {
        let key = (code ?? type ?? "").lowercased()
        if key.contains("rate_limit") || key.contains("quota") { return .rateLimited(summary) }
        if key.contains("invalid_api_key") || key.contains("authentication") { return .unauthorized(summary) }
        if key.contains("server_error") || key.contains("overloaded") || key.contains("unavailable") { return .unavailable(summary) }
        return fallback(summary)
    }
}

/// What a non-200 status means for the call.
enum HTTPFailure {
    /// Try again (if attempts remain), waiting at least `retryAfter` when given.
    case retryable(ChatProviderError, retryAfter: Duration?)
    case fatal(ChatProviderError)

    static func classify(status: Int, body: [UInt8], retryAfter: Duration?) -> HTTPFailure {
        let error = UpstreamErrorBody(parsing: body)
        let text = "HTTP \(status): \(error.summary)"
        switch status {
        case 401, 403: return .fatal(.unauthorized(text))
        case 429:
            // Out of credit is not going to change in a few seconds.
            if error.code == "insufficient_quota" { return .fatal(.rateLimited(text)) }
            return .retryable(.rateLimited(text), retryAfter: retryAfter)
        case 408, 409: return .retryable(.unavailable(text), retryAfter: retryAfter)
        case 500...599: return .retryable(.unavailable(text), retryAfter: retryAfter)
        default: return .fatal(.failed(text))
        }
    }
}
