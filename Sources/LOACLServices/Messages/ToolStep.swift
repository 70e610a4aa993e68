import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLUpstream

/// The run waited longer than the assistant's tool output timeout.
struct ToolStepExpired: Error {}

// SendMessage, step 3b: a step that ended with function calls. The calls are stored (an
// assistant message with `metadata.tool_calls`), the run pauses in `requires_action`, and the
// caller — on any connection, on any server — answers with SubmitToolOutputs, which stores the
// outputs as `tool` messages and sets the run back to `in_progress`; the driver then reads them
// and the model goes on.
extension MessageService {
    /// Stores the step, waits for its outputs (at most `timeout`), and returns them as stored.
    func toolStep(_ job: ReplyJob, run: Run, calls: [ChatToolCall], text: String, timeout: Duration) async throws -> [Loacl_V1_Message] {
        // 1. The calls as an assistant message, with the events so far.
        let metadata = JSONText.object(["provider": job.provider.name, "run_id": run.id,
                                  "tool_calls": calls.map { ["call_id": $0.callID, "name": $0.name, "arguments": $0.arguments] }])
        let pending = run.takeUnpersisted() ?? []
        let insert = PostgresStatement("""
            INSERT INTO loacl.messages AS m (thread_id, role, content, tokens_used, metadata)
            VALUES ($1, 'assistant', $2, $3, $4::jsonb) RETURNING \(MessageRows.insertedColumns)
            """, [job.threadID, text, String(TokenEstimator.estimate(text + calls.map(\.arguments).joined())), metadata])
        let message: Loacl_V1_Message
        do {
            message = try await database.transaction { [pending] connection in
                MessageRows.message(try connection.commit(after: RunStore.persist(pending, runID: run.id, threadID: job.threadID) + [insert])
                    .last!.one("message"))
            }
        } catch {
            run.untake(pending)
            throw error
        }
        if let last = pending.last { run.markPersisted(through: last.sequenceNumber) }

        // 2. `tool_calls` and `requires_action`, persisted with the run's new state, then shown.
        let callsEvent = run.makeNext { event in
            var step = Loacl_V1_ToolCalls()
            step.calls = calls.map(MessageRows.protoToolCall)
            step.message = message
            event.toolCalls = step
        }
        var waiting = job.turn.run
        waiting.status = .requiresAction
        var statusEvent = Loacl_V1_SendMessageEvent()
        statusEvent.run = waiting
        statusEvent.runID = run.id
        statusEvent.sequenceNumber = callsEvent.sequenceNumber + 1
        let statements = RunStore.persist([callsEvent, statusEvent], runID: run.id, threadID: job.threadID) + [
            PostgresStatement("""
                UPDATE loacl.runs SET status = 'requires_action', pending_tool_calls = $2::jsonb, action_sequence = $3::int4
                WHERE id = $1 AND status = 'in_progress'
                """, [run.id, MessageRows.toolCallsJSON(calls), String(statusEvent.sequenceNumber)]),
        ]
        try await database.transaction { connection in _ = try connection.commit(after: statements) }
        run.appendPersisted(callsEvent)
        run.appendPersisted(statusEvent)

        // 3. Wait: woken by SubmitToolOutputs here or its notification from another server,
        // and every couple of seconds a look at the run (a notification can be lost). A
        // timeout expires the run unless the outputs just arrived.
        if try await !waitForOutputs(run, timeout: timeout) {
            let expired = try await database.transaction { connection in
                try connection.commit(after: [PostgresStatement(
                    "UPDATE loacl.runs SET status = 'expired', pending_tool_calls = NULL WHERE id = $1 AND status = 'requires_action' RETURNING id",
                    [run.id])])[0].namedRows.count == 1
            }
            if expired { throw ToolStepExpired() }
        }

        // 4. The outputs, as SubmitToolOutputs stored them, in the order of the calls.
        let ids = calls.map(\.callID)
        let rows = try await database.transaction { connection in
            try connection.pipeline([PostgresStatement("""
                SELECT \(MessageRows.columns) FROM loacl.messages m
                WHERE m.thread_id = $1 AND m.role = 'tool' AND m.metadata->>'run_id' = $2
                  AND m.metadata->>'tool_call_id' = ANY($3::text[])
                ORDER BY m.created_at, m.id
                """, [job.threadID, run.id, sqlArray(ids)])])[0].namedRows
        }
        let byID = Dictionary(rows.map(MessageRows.message).map { ($0.toolCallID, $0) }, uniquingKeysWith: { first, _ in first })
        let outputs = ids.compactMap { byID[$0] }
        guard outputs.count == ids.count else {
            throw RPCError.internal("run \(run.id): the submitted outputs are missing")
        }
        run.append { event in
            var step = Loacl_V1_ToolOutputs()
            step.messages = outputs
            event.toolOutputs = step
        }
        var going = job.turn.run
        going.status = .inProgress
        run.append { $0.run = going }
        return outputs
    }

    /// True once the run is back `in_progress` (outputs stored), false after `timeout`.
    private func waitForOutputs(_ run: Run, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            if left <= .zero { return false }
            if try await run.waitForToolOutputs(timeout: min(left, Self.outputsPoll)) { return true }
            let status = try await database.transaction { connection in
                try connection.pipeline([PostgresStatement("SELECT status FROM loacl.runs WHERE id = $1", [run.id])])[0].scalar
            }
            if status != "requires_action" { return true }
        }
    }

    /// How often a run waiting for tool outputs looks at its row.
    static let outputsPoll: Duration = .seconds(2)
}
