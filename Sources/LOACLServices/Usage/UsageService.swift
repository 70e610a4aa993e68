import LOACLCore
import LOACLMessages
import LOACLPostgres
import LOACLServerCore

/// `loacl.v1.UsageService`: usage totals by metric type, optionally per UTC day.
/// Tenants ask about their assistants (or a session/thread under them); sessions about
/// themselves and their threads. RLS limits the rows either way; scopes the caller can check
/// answer NOT_FOUND when they are not the caller's.
public struct UsageService: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func getUsage(_ request: Loacl_V1_GetUsageRequest, context: ServerContext) async throws -> Loacl_V1_GetUsageResponse {
        let scopes = [("assistant_id", request.assistantID), ("session_id", request.sessionID), ("thread_id", request.threadID)]
            .filter { !$0.1.isEmpty }
        guard scopes.count == 1, let (column, rawID) = scopes.first else {
            throw RPCError.invalidArgument("exactly one of assistant_id, session_id, thread_id must be set")
        }
        let id = try Validate.uuid(rawID, column)
        let start = request.range.startMs
        let end = request.range.endMs
        guard start >= 0, end >= 0, start == 0 || end == 0 || start < end else {
            throw RPCError.invalidArgument("range must have 0 <= start_ms < end_ms (0 = unbounded)")
        }
        for type in request.metricTypes {
            let ok = (1...63).contains(type.utf8.count) && type.utf8.first.map { $0 >= 0x61 && $0 <= 0x7A } == true
                && type.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
            guard ok else { throw RPCError.invalidArgument("metric_types entries must match [a-z][a-z0-9_]{0,62}") }
        }

        // What the caller may ask about, checked where RLS lets us see the scope itself.
        let check: (sql: String, parameters: [String?])?
        switch (CallerIdentity.current, column) {
        case (.tenant, "assistant_id"): check = ("SELECT 1 FROM loacl.assistants WHERE id = $1", [id])
        case (.tenant, _): check = nil
        case (.session, "assistant_id"):
            throw RPCError(.permissionDenied, "sessions may ask about their session or threads, not the assistant")
        case (.session(let session), "session_id"):
            guard id == session.id || { if case .user = session.kind { true } else { false } }() else {
                throw RPCError.notFound("session not found")
            }
            check = ("SELECT 1 FROM loacl.sessions WHERE id = $1", [id])
        case (.session(let session), _):
            check = ("SELECT 1 FROM loacl.threads WHERE id = $1 AND assistant_id = $2", [id, session.assistantID])
        case (.anonymous, _):
            throw RPCError.unauthenticated("GetUsage needs tenant credentials or a session")
        }

        let perDay = request.perDay
        let parameters: [String?] = [id, start == 0 ? nil : String(start), end == 0 ? nil : String(end), sqlArray(request.metricTypes)]
        let day = perDay ? "to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')" : "''"
        let sql = """
            SELECT \(day) AS day, metric_type, sum(metric_value)::int8 AS total, count(*)::int8 AS n
            FROM loacl.usage_metrics
            WHERE \(column) = $1
              AND recorded_at >= COALESCE(\(SQL.timestamp(millis: "$2")), '-infinity'::timestamptz)
              AND recorded_at < COALESCE(\(SQL.timestamp(millis: "$3")), 'infinity'::timestamptz)
              AND (cardinality($4::text[]) = 0 OR metric_type = ANY($4::text[]))
            GROUP BY 1, 2 ORDER BY 1, 2
            """
        let rows = try await database.transaction { connection in
            if let check, try connection.execParams(check.sql, check.parameters).isEmpty {
                throw RPCError.notFound("\(column.dropLast(3)) not found")
            }
            return try connection.execParams(sql, parameters).namedRows
        }

        var response = Loacl_V1_GetUsageResponse()
        var totals: [String: (Int64, Int64)] = [:]
        for row in rows {
            let type = row.string("metric_type")
            let total = row.int64OrZero("total")
            let count = row.int64OrZero("n")
            totals[type, default: (0, 0)].0 += total
            totals[type, default: (0, 0)].1 += count
            if perDay {
                let name = row.string("day")
                if response.days.last?.day != name {
                    var day = Loacl_V1_UsageDay()
                    day.day = name
                    response.days.append(day)
                }
                response.days[response.days.count - 1].totals.append(Self.total(type, total, count))
            }
        }
        response.totals = totals.keys.sorted().map { Self.total($0, totals[$0]!.0, totals[$0]!.1) }
        return response
    }

    static func total(_ type: String, _ total: Int64, _ count: Int64) -> Loacl_V1_UsageTotal {
        var value = Loacl_V1_UsageTotal()
        value.metricType = type
        value.total = total
        value.count = count
        return value
    }
}
