import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

// StreamRun: follow a run from any server, from any event on.
extension MessageService {
    public func streamRun(_ request: Loacl_V1_StreamRunRequest, responses: ResponseWriter<Loacl_V1_SendMessageEvent>,
                          context: ServerContext) async throws {
        _ = try CallerIdentity.requireSession()
        let runID = try Validate.uuid(request.runID, "run_id")
        let after = request.afterSequence
        // The caller must see the run (Row Level Security); an ended run cannot be followed
        // past its last event.
        let run = try await readRun(runID)
        if run.status.isFinal, after > run.lastSequence {
            throw RPCError(.outOfRange, "after_sequence \(after) is past the run's last event (\(run.lastSequence))")
        }
        try await runs.follow(runID: runID, serverInstance: run.serverInstance, after: after,
                              handoff: { responses.writeNow($0) }) { event in
            try await responses.write(event)
        }
    }

    /// The run, as the caller sees it, or NOT_FOUND.
    func readRun(_ runID: String) async throws -> Loacl_V1_Run {
        let row = try await database.transaction { connection in
            try connection.pipeline([RunStore.select(runID)])[0].namedRows.first
        }
        guard let row else { throw RPCError.notFound("run not found") }
        return RunStore.run(row)
    }
}
