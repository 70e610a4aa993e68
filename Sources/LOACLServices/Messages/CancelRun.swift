import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

// CancelRun: stop a run from any server. The server running it cancels the upstream request,
// stores the text so far and ends the run `cancelled`.
extension MessageService {
    /// How long CancelRun waits for the run to end before it answers with the run as it stands.
    static let cancelWait: Duration = .seconds(5)

    public func cancelRun(_ request: Loacl_V1_CancelRunRequest, context: ServerContext) async throws -> Loacl_V1_CancelRunResponse {
        _ = try CallerIdentity.requireSession()
        let runID = try Validate.uuid(request.runID, "run_id")
        // Recorded as the caller (RLS: only who sees the thread); NOT_FOUND otherwise.
        let row = try await database.transaction { connection in
            try connection.commit(after: [PostgresStatement("""
                UPDATE loacl.runs SET cancel_requested_at = COALESCE(cancel_requested_at, now())
                WHERE id = $1 RETURNING status, server_instance
                """, [runID])])[0].namedRows.first
        }
        guard let row else { throw RPCError.notFound("run not found") }
        let status = Loacl_V1_RunStatus(sqlName: row.string("status"))
        if status.isFinal {
            throw RPCError(.failedPrecondition, "run has already ended (\(row.string("status")))")
        }
        if let run = runs.localRun(runID) {
            run.requestStop(.cancelled)
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await run.waitUntilEnded() }
                group.addTask { try? await Task.sleep(for: Self.cancelWait) }
                await group.next()
                group.cancelAll()
            }
        } else {
            await runs.signal(.cancel(runID: runID), instance: row.string("server_instance"))
            let deadline = ContinuousClock.now + Self.cancelWait
            while ContinuousClock.now < deadline, !(try await readRun(runID)).status.isFinal {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        var response = Loacl_V1_CancelRunResponse()
        response.run = try await readRun(runID)
        return response
    }
}
