// Function calling in OpenAI's streaming wire formats, for FakeOpenAIServer: what api.openai.com
// sends when the model calls functions (arguments split across events, parallel calls).
import Foundation

extension OpenAIWire {
    /// One function call the fake model makes: arguments streamed in `pieces`.
    public struct FakeCall: Sendable {
        public var callID: String
        public var name: String
        public var pieces: [String]
        public var arguments: String { pieces.joined() }

        public init(callID: String, name: String, pieces: [String]) {
            self.callID = callID
            self.name = name
            self.pieces = pieces
        }
    }

    /// A Responses stream whose output is function calls (item per call, arguments as
    /// `response.function_call_arguments.delta` events, `.done`, the finished item, then
    /// `response.completed` with the calls in `output`).
    public static func responsesFunctionCalls(_ calls: [FakeCall], usage: (input: Int, output: Int, total: Int)) -> [String] {
        let inProgress = responseObject(status: "in_progress", text: nil, usage: nil)
        var events = [
            event(["type": "response.created", "sequence_number": 0, "response": inProgress]),
            event(["type": "response.in_progress", "sequence_number": 1, "response": inProgress]),
        ]
        var n = 2
        var items: [[String: Any]] = []
        for (index, call) in calls.enumerated() {
            let itemID = "fc_fake_\(index)"
            events.append(event(["type": "response.output_item.added", "sequence_number": n, "output_index": index,
                                 "item": ["id": itemID, "type": "function_call", "status": "in_progress", "arguments": "",
                                          "call_id": call.callID, "name": call.name]]))
            n += 1
            for piece in call.pieces {
                events.append(event(["type": "response.function_call_arguments.delta", "sequence_number": n, "item_id": itemID,
                                     "output_index": index, "delta": piece]))
                n += 1
            }
            events.append(event(["type": "response.function_call_arguments.done", "sequence_number": n, "item_id": itemID,
                                 "output_index": index, "name": call.name, "arguments": call.arguments]))
            let item: [String: Any] = ["id": itemID, "type": "function_call", "status": "completed", "arguments": call.arguments,
                                       "call_id": call.callID, "name": call.name]
            events.append(event(["type": "response.output_item.done", "sequence_number": n + 1, "output_index": index, "item": item]))
            n += 2
            items.append(item)
        }
        events.append(event(["type": "response.completed", "sequence_number": n,
                             "response": responseObject(status: "completed", text: nil, usage: usage, extra: ["output": items])]))
        return events
    }

    /// A Chat Completions stream whose reply is `tool_calls`: the first chunk of each call
    /// carries its index, id and name, later chunks argument fragments only; finish reason
    /// "tool_calls", the usage chunk, `[DONE]`.
    public static func chatToolCalls(_ calls: [FakeCall], usage: (prompt: Int, completion: Int, total: Int)) -> [String] {
        var events = [chatChunk(delta: ["role": "assistant", "content": NSNull(), "refusal": NSNull()], finishReason: nil)]
        for (index, call) in calls.enumerated() {
            events.append(chatChunk(delta: ["tool_calls": [["index": index, "id": call.callID, "type": "function",
                                                            "function": ["name": call.name, "arguments": ""]]]], finishReason: nil))
            for piece in call.pieces {
                events.append(chatChunk(delta: ["tool_calls": [["index": index, "function": ["arguments": piece]]]], finishReason: nil))
            }
        }
        events.append(chatChunk(delta: [:], finishReason: "tool_calls"))
        events.append(data(["id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_767_225_600,
                            "model": "gpt-4.1-mini-2025-04-14", "system_fingerprint": "fp_fake", "choices": [],
                            "usage": ["prompt_tokens": usage.prompt, "completion_tokens": usage.completion, "total_tokens": usage.total]]))
        events.append("data: [DONE]\n\n")
        return events
    }
}
