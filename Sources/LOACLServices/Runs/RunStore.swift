import Foundation
import LOACLCore
import LOACLMessages
import LOACLPostgres

/// `loacl.runs` and `loacl.run_events` in SQL: the statements the run engine, its followers and
/// the run RPCs use. Every statement runs as some caller (Row Level Security decides), except
/// the lease functions, which are SECURITY DEFINER and touch bookkeeping only.
enum RunStore {
    /// Columns of `loacl.runs r` for `run(_:)`.
    static let columns = """
        r.id, r.thread_id, r.user_message_id, r.reply_message_id, r.status, r.last_error_code, r.last_error_message,
        r.incomplete_reason, r.provider, r.model, r.input_tokens, r.output_tokens,
        \(SQL.ms("r.created_at", as: "created_at_ms")), \(SQL.ms("r.started_at", as: "started_at_ms")),
        \(SQL.ms("r.ended_at", as: "ended_at_ms")), r.server_instance,
        GREATEST(r.last_sequence, COALESCE((SELECT max(e.last_seq) FROM loacl.run_events e WHERE e.run_id = r.id), 0)) AS last_sequence,
        \(SQL.micros("r.created_at", as: "cursor"))
        """

    static func run(_ row: PostgresRow) -> Loacl_V1_Run {
        var run = Loacl_V1_Run()
        run.id = row.string("id")
        run.threadID = row.string("thread_id")
        run.userMessageID = row.string("user_message_id")
        run.replyMessageID = row.string("reply_message_id")
        run.status = Loacl_V1_RunStatus(sqlName: row.string("status"))
        if let code = row["last_error_code"] {
            var error = Loacl_V1_RunError()
            error.code = code
            error.message = row.string("last_error_message")
            run.lastError = error
        }
        run.incompleteReason = row.string("incomplete_reason")
        run.provider = row.string("provider")
        run.model = row.string("model")
        run.inputTokens = UInt32(clamping: row.int64OrZero("input_tokens"))
        run.outputTokens = UInt32(clamping: row.int64OrZero("output_tokens"))
        run.createdAtMs = row.int64OrZero("created_at_ms")
        run.startedAtMs = row.int64OrZero("started_at_ms")
        run.endedAtMs = row.int64OrZero("ended_at_ms")
        run.serverInstance = row.string("server_instance")
        run.lastSequence = UInt64(clamping: row.int64OrZero("last_sequence"))
        return run
    }

    /// One run the caller can see (no row otherwise).
    static func select(_ runID: String) -> PostgresStatement {
        PostgresStatement("SELECT \(columns) FROM loacl.runs r WHERE r.id = $1", [runID])
    }

    /// The run's persisted batches holding events after `$2`.
    static func selectEvents(_ runID: String, after sequence: UInt64) -> PostgresStatement {
        PostgresStatement("""
            SELECT e.events FROM loacl.run_events e WHERE e.run_id = $1 AND e.last_seq > $2::int4 ORDER BY e.first_seq
            """, [runID, String(sequence)])
    }

    static func events(_ result: PostgresResult, after sequence: UInt64) throws -> [Loacl_V1_SendMessageEvent] {
        var events: [Loacl_V1_SendMessageEvent] = []
        for row in result.namedRows {
            guard let bytes = row.bytes("events") else { continue }
            events += try RunEventCodec.decode(bytes).filter { $0.sequenceNumber > sequence }
        }
        return events
    }

    /// Persists `events` (one batch, consecutive) and tells followers elsewhere: one INSERT and
    /// a `NOTIFY` delivered at COMMIT.
    static func persist(_ events: [Loacl_V1_SendMessageEvent], runID: String, threadID: String) -> [PostgresStatement] {
        guard let first = events.first?.sequenceNumber, let last = events.last?.sequenceNumber else { return [] }
        return [
            PostgresStatement("""
                INSERT INTO loacl.run_events (run_id, thread_id, first_seq, last_seq, events, text)
                VALUES ($1, $2, $3, $4, $5::bytea, $6)
                """, [runID, threadID, String(first), String(last), PostgresBytea.encode(RunEventCodec.encode(events)),
                      RunEventCodec.text(of: events)]),
            PostgresStatement("SELECT pg_catalog.pg_notify($1, $2)",
                              [RunNotification.channel(runID: runID), RunNotification.persisted(last).payload]),
        ]
    }

    /// Sets the run's final state (the final event goes with it, see `persist`).
    static func finish(_ run: Loacl_V1_Run) -> PostgresStatement {
        PostgresStatement("""
            UPDATE loacl.runs SET status = $2, ended_at = \(SQL.timestamp(millis: "$3")),
                   last_error_code = NULLIF($4, ''), last_error_message = NULLIF($5, ''), incomplete_reason = NULLIF($6, ''),
                   last_sequence = $7::int4
            WHERE id = $1
            """, [run.id, run.status.sqlName, String(run.endedAtMs), run.lastError.code, run.lastError.message,
                  run.incompleteReason, String(run.lastSequence)])
    }

    /// The reply message's id, provider, model and usage, in the statement that stores the reply.
    static func replyStoredSQL(run parameter: String, message: String, provider: String, model: String,
                               inputTokens: String, outputTokens: String) -> String {
        """
        UPDATE loacl.runs SET reply_message_id = \(message), provider = \(provider), model = \(model),
               input_tokens = \(inputTokens)::int4, output_tokens = \(outputTokens)::int4
        WHERE id = \(parameter)
        """
    }

    /// A thread's runs, newest first: $1 thread, $2/$3 the cursor or NULL, $4 the row limit.
    static let listPageSQL = """
        SELECT \(columns) FROM loacl.runs r
        WHERE r.thread_id = $1 AND \(SQL.after("r.created_at", "r.id", time: "$2", id: "$3", descending: true))
        ORDER BY r.created_at DESC, r.id DESC LIMIT $4
        """
}
