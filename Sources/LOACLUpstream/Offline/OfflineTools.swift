import Foundation

/// The offline provider's function calling: deterministic, so the whole tool flow runs with no
/// model and no key.
///
/// The rule (docs/PROVIDERS.md):
/// - In a turn's first step (no function output yet), the provider calls every declared
///   function whose name the user message mentions as a word (case-insensitive), in the order
///   of their first mention: several mentioned functions are parallel calls of one step.
/// - Arguments come from the function's JSON Schema `properties` (sorted by name): a `string`
///   property gets the message text after the function's name (trimmed, at most 200
///   characters), an `integer` or `number` property the first number in the message (0 when
///   there is none), a `boolean` property true when the message says "true" or "yes".
/// - After the outputs came back the provider replies with one line per output of the last
///   step: "<name> returned: <output>".
enum OfflineTools {
    static func calls(for request: ChatRequest) -> [ChatToolCall] {
        guard !request.tools.isEmpty, request.continuation.isEmpty else { return [] }
        let message = request.userMessage
        let lower = message.lowercased()
        var mentioned: [(position: String.Index, tool: ChatTool)] = []
        for tool in request.tools {
            if let range = wordRange(of: tool.name.lowercased(), in: lower) {
                mentioned.append((range.lowerBound, tool))
            }
        }
        return mentioned.sorted { $0.position < $1.position }.map { entry in
            let after = lower.range(of: entry.tool.name.lowercased()).map { message[$0.upperBound...] } ?? ""
            return ChatToolCall(callID: "call_" + randomHex(12), name: entry.tool.name,
                                arguments: arguments(for: entry.tool, message: message, after: String(after)))
        }
    }

    /// The reply after a step's outputs: one line per output of the last step.
    static func replyAfterOutputs(_ request: ChatRequest) -> String? {
        guard let lastCalls = request.continuation.lastIndex(where: { !$0.toolCalls.isEmpty }) else { return nil }
        let names = Dictionary(request.continuation[lastCalls].toolCalls.map { ($0.callID, $0.name) }, uniquingKeysWith: { a, _ in a })
        let lines = request.continuation[(lastCalls + 1)...].filter { $0.role == .tool }.map { turn in
            "\(names[turn.toolCallID ?? ""] ?? "function") returned: \(turn.content)"
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    private static func wordRange(of word: String, in text: String) -> Range<String.Index>? {
        var search = text.startIndex..<text.endIndex
        while let range = text.range(of: word, range: search) {
            let before = range.lowerBound == text.startIndex ? nil : text[text.index(before: range.lowerBound)]
            let after = range.upperBound == text.endIndex ? nil : text[range.upperBound]
            if !isIdentifier(before), !isIdentifier(after) { return range }
            search = range.upperBound..<text.endIndex
        }
        return nil
    }

    private static func isIdentifier(_ c: Character?) -> Bool {
        guard let c else { return false }
        return c.isLetter || c.isNumber || c == "_" || c == "-"
    }

    private static func arguments(for tool: ChatTool, message: String, after: String) -> String {
        let schema = (try? JSONSerialization.jsonObject(with: Data(tool.parametersJSON.utf8))) as? [String: Any]
        let properties = schema?["properties"] as? [String: Any] ?? [:]
        var values: [String: Any] = [:]
        for (name, spec) in properties {
            switch (spec as? [String: Any])?["type"] as? String {
            case "integer": values[name] = Int(firstNumber(in: message) ?? 0)
            case "number": values[name] = firstNumber(in: message) ?? 0
            case "boolean":
                let lower = message.lowercased()
                values[name] = wordRange(of: "true", in: lower) != nil || wordRange(of: "yes", in: lower) != nil
            default:
                let text = after.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters))
                values[name] = String(text.prefix(200))
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: values, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private static func firstNumber(in text: String) -> Double? {
        var digits = ""
        for c in text {
            if c.isNumber || (c == "." && !digits.isEmpty && !digits.contains(".")) || (c == "-" && digits.isEmpty) {
                digits.append(c)
            } else if !digits.isEmpty, digits != "-" {
                break
            } else {
                digits = ""
            }
        }
        return Double(digits)
    }

    private static func randomHex(_ bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
