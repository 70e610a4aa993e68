import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore
import LOACLUpstream

// SubmitToolOutputs: answer a run's function calls, from any connection of a caller who sees the
// thread, on any server; then follow the run on from there (ToolStep.swift is the other side).
extension MessageService {
    static let maxToolOutputBytes = 64 * 1024

    public func submitToolOutputs(_ request: Loacl_V1_SubmitToolOutputsRequest, responses: ResponseWriter<Loacl_V1_SendMessageEvent>,
                                  context: ServerContext) async throws {
        _ = try CallerIdentity.requireSession()
        let runID = try Validate.uuid(request.runID, "run_id")
        let outputs = try Self.validated(request.outputs)

        // One transaction, as the caller: the run must wait for exactly these calls; their
        // outputs become `tool` messages (in the order of the calls), the run goes back to
        // `in_progress`, and its server is told (the NOTIFY is delivered at COMMIT).
        let (instance, after) = try await database.transaction { connection in
            let rows = try connection.pipeline([PostgresStatement("""
                SELECT status, thread_id, server_instance, action_sequence, pending_tool_calls::text AS calls
                FROM loacl.runs WHERE id = $1 FOR UPDATE
                """, [runID])])[0].namedRows
            guard let run = rows.first else { throw RPCError.notFound("run not found") }
            guard run["status"] == "requires_action" else {
                throw RPCError(.failedPrecondition, "run is \(run.string("status")), not requires_action: it waits for no tool outputs")
            }
            let calls = MessageRows.toolCalls(json: run["calls"])
            try Self.match(outputs, to: calls)
            let names = Dictionary(calls.map { ($0.callID, $0.name) }, uniquingKeysWith: { first, _ in first })
            let ordered = calls.compactMap { call in outputs.first { $0.callID == call.callID } }
            let rowsJSON = JSONText.object(["rows": ordered.enumerated().map { index, output in
                ["n": index, "content": output.output, "tokens": TokenEstimator.estimate(output.output),
                 "metadata": ["tool_call_id": output.callID, "name": names[output.callID] ?? "", "run_id": runID]] as [String: Any]
            }])
            _ = try connection.commit(after: [
                PostgresStatement("""
                    INSERT INTO loacl.messages (thread_id, role, content, tokens_used, metadata, created_at)
                    SELECT $1, 'tool', r.content, r.tokens, r.metadata, clock_timestamp()
                    FROM jsonb_to_recordset($2::jsonb->'rows') AS r(n int, content text, tokens int, metadata jsonb) ORDER BY r.n
                    """, [run.string("thread_id"), rowsJSON]),
                PostgresStatement("""
                    UPDATE loacl.runs SET status = 'in_progress', pending_tool_calls = NULL WHERE id = $1
                    RETURNING pg_catalog.pg_notify('loacl_srv_' || pg_catalog.split_part(server_instance, '/', 3), 'O' || id::text)
                    """, [runID]),
            ])
            return (run.string("server_instance"), UInt64(clamping: run.int64OrZero("action_sequence")))
        }
        // The running server here: wake its driver now rather than by the notification.
        runs.localRun(runID)?.toolOutputsSubmitted()
        try await runs.follow(runID: runID, serverInstance: instance, after: after) { event in
            try await responses.write(event)
        }
    }

    /// Checks the request's outputs: at least one, each with a call id (once) and at most
    /// 64 KiB of output.
    static func validated(_ outputs: [Loacl_V1_ToolOutput]) throws(RPCError) -> [ChatToolOutput] {
        guard !outputs.isEmpty else { throw RPCError.invalidArgument("outputs must not be empty") }
        var seen: Set<String> = []
        var checked: [ChatToolOutput] = []
        for (index, output) in outputs.enumerated() {
            guard !output.callID.isEmpty else { throw RPCError.invalidArgument("outputs[\(index)].call_id is required") }
            guard output.callID.utf8.count <= 256 else { throw RPCError.invalidArgument("outputs[\(index)].call_id is too long") }
            guard seen.insert(output.callID).inserted else {
                throw RPCError.invalidArgument("outputs[\(index)].call_id \(output.callID) is given twice")
            }
            guard output.output.utf8.count <= maxToolOutputBytes else {
                throw RPCError.invalidArgument("outputs[\(index)].output is larger than 64 KiB")
            }
            guard !output.output.contains("\u{0}") else {
                throw RPCError.invalidArgument("outputs[\(index)].output contains a NUL character")
            }
            checked.append(ChatToolOutput(callID: output.callID, output: output.output))
        }
        return checked
    }

    /// The outputs must answer exactly the step's calls: none unknown, none missing.
    static func match(_ outputs: [ChatToolOutput], to calls: [ChatToolCall]) throws(RPCError) {
        let pending = Set(calls.map(\.callID))
        if let unknown = outputs.first(where: { !pending.contains($0.callID) }) {
            throw RPCError.invalidArgument("outputs: call_id \(unknown.callID) is not a call of the run's current step")
        }
        let given = Set(outputs.map(\.callID))
        if let missing = calls.first(where: { !given.contains($0.callID) }) {
            throw RPCError.invalidArgument("outputs: call \(missing.callID) (\(missing.name)) has no output; submit every call of the step at once")
        }
    }

    struct ChatToolOutput: Sendable {
        var callID: String
        var output: String
    }
}
