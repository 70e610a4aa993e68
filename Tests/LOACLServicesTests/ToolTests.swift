import Foundation
import LOACLClient
import LOACLCore
import LOACLFakeOpenAI
import LOACLMessages
import LOACLPostgres
import LOACLServices
import Synchronization
import Testing

// Function tools end to end: the model calls, the caller's code answers (SubmitToolOutputs from
// another connection, on another server), the model goes on. Real sockets, real PostgreSQL, the
// offline provider and the fake OpenAI upstream in both wire formats.

extension RunRig {
    /// SubmitToolOutputs on `server`, collecting the run's events from there until it ends.
    func submit(_ runID: String, _ outputs: [(String, String)], on server: RunServer, as caller: Caller? = nil)
        async throws -> [Loacl_V1_SendMessageEvent] {
        try await server.client.serverStreaming(MS.submitToolOutputs, Self.outputs(runID, outputs), options: options(caller),
                                                responseType: Loacl_V1_SendMessageEvent.self) { try await Self.collect($0, until: { _ in false }) }
    }

    static func outputs(_ runID: String, _ outputs: [(String, String)]) -> Loacl_V1_SubmitToolOutputsRequest {
        var request = Loacl_V1_SubmitToolOutputsRequest()
        request.runID = runID
        request.outputs = outputs.map { id, text in
            var output = Loacl_V1_ToolOutput()
            output.callID = id
            output.output = text
            return output
        }
        return request
    }

    /// Sends `text` on A and reads until the run waits for tool outputs.
    func sendUntilToolCalls(_ text: String) async throws -> [Loacl_V1_SendMessageEvent] {
        try await send(text, on: a.client) { events in
            if case .run(let run)? = events.last?.event, run.status == .requiresAction { return true }
            return events.finalRun != nil
        }
    }

    func storedThread() async throws -> [PostgresRow] {
        try await harness.superuser("""
            SELECT role, content, metadata->'tool_calls' AS tool_calls, metadata->>'tool_call_id' AS tool_call_id
            FROM loacl.messages WHERE thread_id = $1 ORDER BY created_at, id
            """, [thread.id]).namedRows
    }
}

extension [Loacl_V1_SendMessageEvent] {
    var toolCalls: [Loacl_V1_ToolCall] {
        flatMap { event -> [Loacl_V1_ToolCall] in if case .toolCalls(let step)? = event.event { step.calls } else { [] } }
    }
}

func function(_ name: String, _ parameters: String) -> Loacl_V1_FunctionTool {
    var tool = Loacl_V1_FunctionTool()
    tool.name = name
    tool.description_p = "Test function \(name)"
    tool.parametersJson = parameters
    return tool
}

let weatherParameters = #"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#

@Suite("Function tools: the model calls, the caller answers")
struct ToolTests {
    @Test func offlineProviderCallsANamedFunctionAndAnswersWithItsOutput() async throws {
        try await withRuns(reply: { _ in .status(500) }, assistant: {
            $0.configuration.provider = "offline"
            $0.configuration.functions = [function("get_weather", weatherParameters), function("get_time", #"{"type":"object"}"#)]
        }) { rig in
            let first = try await rig.sendUntilToolCalls("Please call get_weather for Paris")
            let calls = first.toolCalls
            try #require(calls.count == 1)
            #expect(calls[0].name == "get_weather" && calls[0].argumentsJson == #"{"city":"for Paris"}"#)
            #expect(first.contains { if case .toolCallDelta(let d)? = $0.event { d.callID == calls[0].callID } else { false } })
            // The caller's other server answers; its stream carries the run on to the end.
            let rest = try await rig.submit(first.runID, [(calls[0].callID, "18°C and sunny")], on: rig.b)
            #expect(rest.first.map { if case .toolOutputs? = $0.event { true } else { false } } == true)
            #expect(rest.deltaText == "get_weather returned: 18°C and sunny")
            let final = try #require(rest.finalRun)
            #expect(final.status == .completed)
            let all = first + rest
            #expect(all.map(\.sequenceNumber) == (1...UInt64(all.count)).map { $0 })
            // The thread keeps the call, the output and the reply, in order.
            let stored = try await rig.storedThread()
            #expect(stored.map { $0["role"] ?? "" } == ["user", "assistant", "tool", "assistant"])
            #expect(stored[2]["tool_call_id"] == calls[0].callID && stored[2]["content"] == "18°C and sunny")
            let list: Loacl_V1_ListMessagesResponse = try await rig.a.client.unary(
                MS.listMessages, request(Loacl_V1_ListMessagesRequest.self) { $0.threadID = rig.thread.id }, options: rig.options())
            #expect(list.messages.map(\.role) == [.user, .assistant, .tool, .assistant])
            #expect(list.messages[1].toolCalls.map(\.callID) == [calls[0].callID] && list.messages[2].toolCallID == calls[0].callID)
        }
    }

    @Test func responsesApiParallelCallsOverTwoRoundsCarryExactlyTheOutputs() async throws {
        let round1 = [OpenAIWire.FakeCall(callID: "call_a", name: "get_weather", pieces: [#"{"ci"#, #"ty":"Pa"#, #"ris"}"#]),
                      OpenAIWire.FakeCall(callID: "call_b", name: "get_time", pieces: [#"{"zone""#, #":"CET"}"#])]
        let round2 = [OpenAIWire.FakeCall(callID: "call_c", name: "get_weather", pieces: [#"{"city":"Oslo"}"#])]
        try await withRuns(.responses, reply: { n in
            switch n {
            case 0: .stream(OpenAIWire.responsesFunctionCalls(round1, usage: (input: 20, output: 10, total: 30)))
            case 1: .stream(OpenAIWire.responsesFunctionCalls(round2, usage: (input: 40, output: 5, total: 45)))
            default: UpstreamEndpoint.responses.reply(["Paris is sunny, ", "Oslo is cold."], input: 60, output: 8)
            }
        }, assistant: {
            $0.configuration.functions = [function("get_weather", weatherParameters), function("get_time", #"{"type":"object"}"#)]
        }) { rig in
            let first = try await rig.sendUntilToolCalls("Weather in Paris and the time?")
            #expect(first.toolCalls.map(\.callID) == ["call_a", "call_b"])
            #expect(first.toolCalls.map(\.argumentsJson) == [#"{"city":"Paris"}"#, #"{"zone":"CET"}"#])
            // Argument pieces arrive as they streamed.
            let pieces = first.compactMap { if case .toolCallDelta(let d)? = $0.event, d.callID == "call_a" { d.argumentsDelta } else { nil } }
            #expect(pieces.joined() == #"{"city":"Paris"}"# && pieces.count >= 3)
            // Round 1 answered from B; the model calls again.
            let afterFirst = try await rig.submitUntilToolCalls(first.runID, [("call_b", "13:05"), ("call_a", "sunny")], on: rig.b)
            #expect(afterFirst.toolCalls.map(\.callID) == ["call_c"])
            let rest = try await rig.submit(first.runID, [("call_c", "cold")], on: rig.a)
            let final = try #require(rest.finalRun)
            #expect(final.status == .completed && final.inputTokens == 120 && final.outputTokens == 23)
            #expect(rest.deltaText == "Paris is sunny, Oslo is cold.")

            // The second request carried the first step's calls and their outputs, exactly.
            let requests = rig.upstream.requests.filter { !$0.asksForFollowUps }
            try #require(requests.count == 3)
            let input = try #require(requests[1].json?["input"] as? [[String: Any]])
            let items = input.suffix(4).map { canonicalJSON($0) }
            #expect(items == [
                canonicalJSON(["type": "function_call", "call_id": "call_a", "name": "get_weather", "arguments": #"{"city":"Paris"}"#]),
                canonicalJSON(["type": "function_call", "call_id": "call_b", "name": "get_time", "arguments": #"{"zone":"CET"}"#]),
                canonicalJSON(["type": "function_call_output", "call_id": "call_a", "output": "sunny"]),
                canonicalJSON(["type": "function_call_output", "call_id": "call_b", "output": "13:05"]),
            ])
            let tools = try #require(requests[0].json?["tools"] as? [[String: Any]])
            #expect(tools.map { $0["name"] as? String } == ["get_weather", "get_time"] && tools.allSatisfy { $0["type"] as? String == "function" })
            #expect(canonicalJSON(tools[0]["parameters"] as Any) == canonicalJSON(try JSONSerialization.jsonObject(with: Data(weatherParameters.utf8))))
            // The third request has both steps.
            let third = try #require(requests[2].json?["input"] as? [[String: Any]])
            #expect(third.suffix(6).map { $0["type"] as? String } == ["function_call", "function_call", "function_call_output",
                                                                    "function_call_output", "function_call", "function_call_output"])

            // The next turn sends the whole function history back in the same format.
            _ = try await rig.send("Thanks", on: rig.a.client)
            let fourth = try #require(rig.upstream.requests.filter { !$0.asksForFollowUps }.last?.json?["input"] as? [[String: Any]])
            #expect(fourth.filter { $0["type"] as? String == "function_call_output" }.count == 3)
        }
    }

    @Test func chatCompletionsToolCallsAndToolMessages() async throws {
        let calls = [OpenAIWire.FakeCall(callID: "call_x", name: "get_weather", pieces: [#"{"city""#, #":"Rome"}"#]),
                     OpenAIWire.FakeCall(callID: "call_y", name: "get_weather", pieces: [#"{"city":"#, #""Nice"}"#])]
        try await withRuns(.chat, reply: { n in
            n == 0 ? .stream(OpenAIWire.chatToolCalls(calls, usage: (prompt: 30, completion: 12, total: 42)))
                   : UpstreamEndpoint.chat.reply(["Both warm."], input: 50, output: 3)
        }, assistant: {
            $0.configuration.functions = [function("get_weather", weatherParameters)]
        }) { rig in
            let first = try await rig.sendUntilToolCalls("Rome and Nice?")
            #expect(first.toolCalls.map(\.callID) == ["call_x", "call_y"])
            #expect(first.toolCalls.map(\.argumentsJson) == [#"{"city":"Rome"}"#, #"{"city":"Nice"}"#])
            let rest = try await rig.submit(first.runID, [("call_x", "24C"), ("call_y", "22C")], on: rig.b)
            #expect(rest.finalRun?.status == .completed && rest.deltaText == "Both warm.")
            let requests = rig.upstream.requests.filter { !$0.asksForFollowUps }
            try #require(requests.count == 2)
            let messages = try #require(requests[1].json?["messages"] as? [[String: Any]])
            let tail = messages.suffix(3)
            #expect(canonicalJSON(tail.first!) == canonicalJSON([
                "role": "assistant", "content": NSNull(),
                "tool_calls": [["id": "call_x", "type": "function", "function": ["name": "get_weather", "arguments": #"{"city":"Rome"}"#]],
                               ["id": "call_y", "type": "function", "function": ["name": "get_weather", "arguments": #"{"city":"Nice"}"#]]],
            ] as [String: Any]))
            #expect(tail.dropFirst().map { canonicalJSON($0) } == [
                canonicalJSON(["role": "tool", "tool_call_id": "call_x", "content": "24C"]),
                canonicalJSON(["role": "tool", "tool_call_id": "call_y", "content": "22C"]),
            ])
            let tools = try #require(requests[0].json?["tools"] as? [[String: Any]])
            #expect((tools.first?["function"] as? [String: Any])?["name"] as? String == "get_weather")
        }
    }

    @Test func badOutputsAreRefusedAndChangeNothing() async throws {
        try await withRuns(reply: { _ in .status(500) }, assistant: {
            $0.configuration.provider = "offline"
            $0.configuration.functions = [function("get_weather", weatherParameters), function("get_time", #"{"type":"object"}"#)]
        }) { rig in
            let first = try await rig.sendUntilToolCalls("call get_weather and get_time now")
            let ids = first.toolCalls.map(\.callID)
            try #require(ids.count == 2)
            let runID = first.runID
            let cases: [(String, [(String, String)], StatusCode)] = [
                ("empty", [], .invalidArgument),
                ("unknown id", [(ids[0], "a"), (ids[1], "b"), ("call_nope", "c")], .invalidArgument),
                ("missing id", [(ids[0], "a")], .invalidArgument),
                ("no id", [("", "a"), (ids[1], "b")], .invalidArgument),
                ("twice", [(ids[0], "a"), (ids[0], "b"), (ids[1], "c")], .invalidArgument),
                ("too large", [(ids[0], String(repeating: "x", count: 64 * 1024 + 1)), (ids[1], "b")], .invalidArgument),
            ]
            for (name, outputs, code) in cases {
                let error = await refusal { _ = try await rig.submit(runID, outputs, on: rig.b) }
                #expect(error?.code == code, "\(name): \(String(describing: error))")
            }
            let stranger = try await rig.harness.startGuest(try await rig.harness.createAssistant(Caller.newTenant()).id).0
            #expect(await refusal { _ = try await rig.submit(runID, [(ids[0], "a"), (ids[1], "b")], on: rig.b, as: stranger) }?.code == .notFound)
            // Nothing stored, the run still waits.
            #expect(try await rig.storedThread().map { $0["role"] ?? "" } == ["user", "assistant"])
            #expect(try await rig.getRun(runID).status == .requiresAction)
            // The right answer goes through; a second one is refused.
            let rest = try await rig.submit(runID, [(ids[1], "noon"), (ids[0], "rain")], on: rig.a)
            #expect(rest.finalRun?.status == .completed)
            #expect(await refusal { _ = try await rig.submit(runID, [(ids[0], "a"), (ids[1], "b")], on: rig.b) }?.code == .failedPrecondition)
        }
    }

    @Test func badDeclarationsAreRefusedNamingTheFunctionAndField() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let cases: [([Loacl_V1_FunctionTool], String)] = [
                ([function("get weather", weatherParameters)], "configuration.functions[0] (get weather).name"),
                ([function("a", weatherParameters), function("a", weatherParameters)], "configuration.functions[1] (a).name is declared twice"),
                ([function("f", #"{"type":"array"}"#)], "configuration.functions[0] (f).parameters_json must be a JSON object"),
                ([function("f", "not json")], "configuration.functions[0] (f).parameters_json"),
                ([function("f", #"{"type":"object","x":""# + String(repeating: "y", count: 16 * 1024) + #""}"#)], "(f).parameters_json must be at most 16 KiB"),
                ([function(String(repeating: "n", count: 65), weatherParameters)], "configuration.functions[0]"),
            ]
            for (functions, message) in cases {
                let error = await refusal { _ = try await h.createAssistant(tenant) { $0.configuration.functions = functions } }
                #expect(error?.code == .invalidArgument && error?.message.contains(message) == true, "\(String(describing: error))")
            }
            // A good declaration round-trips.
            let made = try await h.createAssistant(tenant) { $0.configuration.functions = [function("get_weather", weatherParameters)] }
            #expect(made.configuration.functions.map(\.name) == ["get_weather"])
            #expect(made.configuration.functions.first?.parametersJson == #"{"properties":{"city":{"type":"string"}},"required":["city"],"type":"object"}"#)
        }
    }

    @Test func tooManyRoundsEndTheRunIncomplete() async throws {
        try await withRuns(.responses, reply: { n in
            .stream(OpenAIWire.responsesFunctionCalls([OpenAIWire.FakeCall(callID: "call_\(n)", name: "get_time", pieces: ["{}"])],
                                                      usage: (input: 5, output: 1, total: 6)))
        }, assistant: {
            $0.configuration.functions = [function("get_time", #"{"type":"object"}"#)]
            $0.configuration.maxToolRounds = request { $0.value = 1 }
        }) { rig in
            // Round 1 answered; the model calls again: past max_tool_rounds.
            let first = try await rig.sendUntilToolCalls("what time is it")
            let rest = try await rig.submit(first.runID, [("call_0", "noon")], on: rig.b)
            #expect(rest.finalRun?.status == .incomplete && rest.finalRun?.incompleteReason == "max_tool_rounds")
        }
    }

    @Test func anUnansweredStepExpires() async throws {
        try await withRuns(.responses, reply: { n in
            .stream(OpenAIWire.responsesFunctionCalls([OpenAIWire.FakeCall(callID: "call_\(n)", name: "get_time", pieces: ["{}"])],
                                                      usage: (input: 5, output: 1, total: 6)))
        }, assistant: {
            $0.configuration.functions = [function("get_time", #"{"type":"object"}"#)]
            $0.configuration.toolOutputTimeoutSeconds = 1
        }) { rig in
            let waiting = try await rig.sendUntilToolCalls("what time is it")
            let run = try await rig.waitForEnd(waiting.runID)
            #expect(run.status == .expired)
            #expect(await refusal { _ = try await rig.submit(waiting.runID, [("call_0", "late")], on: rig.a) }?.code == .failedPrecondition)
            // The thread takes the next message, and the unanswered call is not sent upstream again.
            _ = try await rig.sendUntilToolCalls("and now?")
            let input = try #require(rig.upstream.requests.filter { !$0.asksForFollowUps }.last?.json?["input"] as? [[String: Any]])
            #expect(!input.contains { $0["type"] as? String == "function_call" })
        }
    }
}

extension RunRig {
    /// SubmitToolOutputs, read until the run waits again (or ends).
    func submitUntilToolCalls(_ runID: String, _ outputs: [(String, String)], on server: RunServer) async throws -> [Loacl_V1_SendMessageEvent] {
        try await server.client.serverStreaming(MS.submitToolOutputs, Self.outputs(runID, outputs), options: options(),
                                                       responseType: Loacl_V1_SendMessageEvent.self) { stream in
            try await Self.collect(stream) { events in
                if case .run(let run)? = events.last?.event, run.status == .requiresAction { return true }
                return events.finalRun != nil
            }
        }
    }
}
