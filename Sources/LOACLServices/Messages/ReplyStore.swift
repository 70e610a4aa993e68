import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLUpstream

// SendMessage, step 4: storing the reply (complete or as far as it got) with the run's pending
// events and the reply's id and usage on the run, in one round trip.
extension MessageService {
    /// How a reply ended, as its stored metadata says it.
    struct ReplyEnding: Sendable {
        /// Nil for a reply the upstream ended (complete, or cut at its output limit); else why it
        /// stopped here: "cancelled", "shutdown", "failed".
        var incompleteReason: String?
        /// The file search passages the model was given (kept in the metadata as `citations`).
        var citations: [Loacl_V1_FileSearchHit] = []
    }

    /// Stores the assistant's reply (and `title` for a thread that still has none), persists the
    /// run's events not yet persisted, and records the reply and the run's token totals (every
    /// step's) on the run. Returns the message as stored.
    func storeReply(_ reply: String, usage: ChatUsage?, provider: String, model: String, ending: ReplyEnding,
                    threadID: String, title: String?, run: Run, runTokens: (input: Int, output: Int)) async throws -> Loacl_V1_Message {
        var info: [String: Any] = ["provider": provider, "run_id": run.id]
        if let usage {
            info["input_tokens"] = usage.inputTokens
            info["output_tokens"] = usage.outputTokens
            if usage.isEstimate { info["tokens_estimated"] = true }
        }
        // `incomplete`: cut short here (cancelled, failed, shutdown); a reason alone: the
        // upstream ended it early but cleanly (e.g. max_output_tokens), with its usage.
        if !ending.citations.isEmpty {
            info["citations"] = ending.citations.enumerated().map { index, hit -> [String: Any] in
                ["n": index + 1, "file_id": hit.fileID, "filename": hit.filename, "chunk_index": hit.chunkIndex,
                 "source": hit.source == .thread ? "thread" : "knowledge"]
            }
        }
        if let reason = ending.incompleteReason {
            info["incomplete"] = true
            info["incomplete_reason"] = reason
        } else if let reason = usage?.incompleteReason {
            info["incomplete_reason"] = reason
        }
        let metadata = JSONText.object(info)
        let tokens = usage.map { max(0, $0.outputTokens) } ?? TokenEstimator.estimate(reply)
        let body = """
            m AS (
                INSERT INTO loacl.messages AS m (thread_id, role, content, tokens_used, metadata)
                VALUES ($1, 'assistant', $2, $3, $4::jsonb) RETURNING *
            ), r AS (
                \(RunStore.replyStoredSQL(run: "$5", message: "(SELECT id FROM m)", provider: "$6", model: "$7",
                                          inputTokens: "$8", outputTokens: "$9"))
            )
            SELECT \(MessageRows.insertedColumns) FROM m
            """
        var parameters: [String?] = [threadID, reply, String(tokens), metadata, run.id, provider, model,
                                     String(runTokens.input), String(runTokens.output)]
        // With the title of an untitled thread in the same statement.
        let statement = if let title {
            PostgresStatement("""
                WITH titled AS (
                    UPDATE loacl.threads SET title = $10 WHERE id = $1 AND (title IS NULL OR title = '')
                ), \(body)
                """, { parameters.append(title); return parameters }())
        } else {
            PostgresStatement("WITH \(body)", parameters)
        }
        let pending = run.takeUnpersisted() ?? []
        let statements = RunStore.persist(pending, runID: run.id, threadID: threadID) + [statement]
        let row: PostgresRow
        do {
            row = try await database.transaction { connection in
                try connection.commit(after: statements).last!.one("message")
            }
        } catch {
            run.untake(pending)
            throw error
        }
        if let last = pending.last { run.markPersisted(through: last.sequenceNumber) }
        return MessageRows.message(row)
    }

    /// Ends the run: its last events (the final one included, made here) are persisted with the
    /// run's final state, then followers see the final event. Returns it.
    @discardableResult
    func finishRun(_ run: Run, _ final: Loacl_V1_Run) async throws -> Loacl_V1_SendMessageEvent {
        var state = final
        let event = run.makeNext { $0.run = state }
        state.lastSequence = event.sequenceNumber
        var finalEvent = event
        finalEvent.run = state
        let pending = run.takeUnpersisted() ?? []
        let statements = RunStore.persist(pending + [finalEvent], runID: run.id, threadID: run.threadID) + [RunStore.finish(state)]
        do {
            try await database.transaction { connection in _ = try connection.commit(after: statements) }
        } catch {
            run.untake(pending)
            throw error
        }
        run.appendPersisted(finalEvent)
        return finalEvent
    }
}
