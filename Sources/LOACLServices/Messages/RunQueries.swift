import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

// GetRun and ListRuns: reading runs (as the caller: Row Level Security decides).
extension MessageService {
    public func getRun(_ request: Loacl_V1_GetRunRequest, context: ServerContext) async throws -> Loacl_V1_GetRunResponse {
        _ = try CallerIdentity.requireSession()
        var response = Loacl_V1_GetRunResponse()
        response.run = try await readRun(try Validate.uuid(request.runID, "run_id"))
        return response
    }

    public func listRuns(_ request: Loacl_V1_ListRunsRequest, context: ServerContext) async throws -> Loacl_V1_ListRunsResponse {
        let session = try CallerIdentity.requireSession()
        let threadID = try Validate.uuid(request.threadID, "thread_id")
        let pageSize = try Validate.pageSize(request.pageSize)
        let cursor = try PageToken.decode(request.pageToken, expecting: .time)
        let rows = try await threadPage(threadID, session, sql: RunStore.listPageSQL, cursor: cursor, pageSize: pageSize)
        let (page, next) = paginate(rows, pageSize: pageSize) { PageToken(kind: .time, value: $0.int64OrZero("cursor"), id: $0.string("id")) }
        var response = Loacl_V1_ListRunsResponse()
        response.runs = page.map(RunStore.run)
        response.nextPageToken = next
        return response
    }
}
