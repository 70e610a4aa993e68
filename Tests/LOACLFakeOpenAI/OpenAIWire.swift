// OpenAI's streaming wire format, event by event, for FakeOpenAIServer. Mirrors what
// api.openai.com sends (field names, event order, usage objects); only ids and times are fixed.
import Foundation

public enum OpenAIWire {
    /// `data: <json>\n\n` with the JSON serialised from `object` (keys sorted, so stable).
    public static func data(_ object: [String: Any]) -> String {
        let json = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return "data: \(String(decoding: json, as: UTF8.self))\n\n"
    }

    /// `event: <type>\ndata: <json>\n\n`, the Responses API's framing.
    public static func event(_ object: [String: Any]) -> String {
        "event: \(object["type"] as! String)\n" + data(object)
    }

    // MARK: Responses API (POST /v1/responses, stream: true)

    public static func responseObject(status: String, text: String?, usage: (input: Int, output: Int, total: Int)?,
                               extra: [String: Any] = [:]) -> [String: Any] {
        var object: [String: Any] = [
            "id": "resp_fake", "object": "response", "created_at": 1_767_225_600, "status": status,
            "model": "gpt-4.1-mini-2025-04-14", "error": NSNull(), "incomplete_details": NSNull(),
            "output": text.map { [["id": "msg_fake", "type": "message", "status": "completed", "role": "assistant",
                                   "content": [["type": "output_text", "text": $0, "annotations": []]]]] } ?? [],
            "usage": NSNull(),
        ]
        if let usage {
            object["usage"] = ["input_tokens": usage.input, "input_tokens_details": ["cached_tokens": 0],
                               "output_tokens": usage.output, "output_tokens_details": ["reasoning_tokens": 0],
                               "total_tokens": usage.total]
        }
        object.merge(extra) { $1 }
        return object
    }

    /// The events before the first delta: created, in_progress, output_item.added, content_part.added.
    public static func responsesPreamble() -> [String] {
        let inProgress = responseObject(status: "in_progress", text: nil, usage: nil)
        return [
            event(["type": "response.created", "sequence_number": 0, "response": inProgress]),
            event(["type": "response.in_progress", "sequence_number": 1, "response": inProgress]),
            event(["type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
                   "item": ["id": "msg_fake", "type": "message", "status": "in_progress", "role": "assistant", "content": []]]),
            event(["type": "response.content_part.added", "sequence_number": 3, "item_id": "msg_fake", "output_index": 0,
                   "content_index": 0, "part": ["type": "output_text", "text": "", "annotations": []]]),
        ]
    }

    public static func responsesDelta(_ text: String, sequence: Int) -> String {
        event(["type": "response.output_text.delta", "sequence_number": sequence, "item_id": "msg_fake",
               "output_index": 0, "content_index": 0, "delta": text, "logprobs": []])
    }

    /// A complete successful stream: preamble, one event per delta, the `.done` events and
    /// `response.completed` with usage.
    public static func responses(deltas: [String], usage: (input: Int, output: Int, total: Int)) -> [String] {
        let text = deltas.joined()
        var events = responsesPreamble()
        var n = 4
        for delta in deltas {
            events.append(responsesDelta(delta, sequence: n))
            n += 1
        }
        let part: [String: Any] = ["type": "output_text", "text": text, "annotations": []]
        events.append(event(["type": "response.output_text.done", "sequence_number": n, "item_id": "msg_fake",
                             "output_index": 0, "content_index": 0, "text": text, "logprobs": []]))
        events.append(event(["type": "response.content_part.done", "sequence_number": n + 1, "item_id": "msg_fake",
                             "output_index": 0, "content_index": 0, "part": part]))
        events.append(event(["type": "response.output_item.done", "sequence_number": n + 2, "output_index": 0,
                             "item": ["id": "msg_fake", "type": "message", "status": "completed", "role": "assistant", "content": [part]]]))
        events.append(event(["type": "response.completed", "sequence_number": n + 3,
                             "response": responseObject(status: "completed", text: text, usage: usage)]))
        return events
    }

    /// `response.failed` with an error object.
    public static func responsesFailed(code: String, message: String) -> String {
        event(["type": "response.failed", "sequence_number": 9,
               "response": responseObject(status: "failed", text: nil, usage: nil,
                                          extra: ["error": ["code": code, "message": message]])])
    }

    /// `response.incomplete` (e.g. reason "max_output_tokens") with usage.
    public static func responsesIncomplete(reason: String, usage: (input: Int, output: Int, total: Int)) -> String {
        event(["type": "response.incomplete", "sequence_number": 9,
               "response": responseObject(status: "incomplete", text: nil, usage: usage,
                                          extra: ["incomplete_details": ["reason": reason]])])
    }

    /// The stream-level `error` event.
    public static func responsesError(code: String, message: String) -> String {
        event(["type": "error", "sequence_number": 9, "code": code, "message": message, "param": NSNull()])
    }

    // MARK: Chat Completions (POST /v1/chat/completions, stream: true, include_usage)

    public static func chatChunk(delta: [String: Any], finishReason: String?) -> String {
        data(["id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_767_225_600,
              "model": "gpt-4.1-mini-2025-04-14", "system_fingerprint": "fp_fake", "usage": NSNull(),
              "choices": [["index": 0, "delta": delta, "logprobs": NSNull(), "finish_reason": finishReason.map { $0 as Any } ?? NSNull()]]])
    }

    /// A complete stream: the role chunk, one chunk per delta, the finish chunk, the usage chunk
    /// (empty `choices`), then `data: [DONE]`.
    public static func chatCompletions(deltas: [String], usage: (prompt: Int, completion: Int, total: Int),
                                finishReason: String = "stop") -> [String] {
        var events = [chatChunk(delta: ["role": "assistant", "content": "", "refusal": NSNull()], finishReason: nil)]
        events += deltas.map { chatChunk(delta: ["content": $0], finishReason: nil) }
        events.append(chatChunk(delta: [:], finishReason: finishReason))
        events.append(data(["id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_767_225_600,
                            "model": "gpt-4.1-mini-2025-04-14", "system_fingerprint": "fp_fake", "choices": [],
                            "usage": ["prompt_tokens": usage.prompt, "completion_tokens": usage.completion,
                                      "total_tokens": usage.total,
                                      "prompt_tokens_details": ["cached_tokens": 0, "audio_tokens": 0],
                                      "completion_tokens_details": ["reasoning_tokens": 0, "audio_tokens": 0]]]))
        events.append("data: [DONE]\n\n")
        return events
    }

    /// OpenAI's error body for non-200 answers.
    public static func errorBody(_ message: String, type: String, code: String?) -> String {
        let json = try! JSONSerialization.data(withJSONObject: ["error": ["message": message, "type": type,
                                                                          "param": NSNull(), "code": code.map { $0 as Any } ?? NSNull()]],
                                               options: [.sortedKeys])
        return String(decoding: json, as: UTF8.self)
    }
}
