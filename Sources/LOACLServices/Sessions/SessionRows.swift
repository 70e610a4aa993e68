import LOACLMessages
import LOACLPostgres

/// `loacl.sessions` rows ↔ `SessionRecord` ↔ `Loacl_V1_Session`.
enum SessionRows {
    static let columns = """
        id, assistant_id, session_type, user_id, fingerprint, status, metadata::text AS metadata,
        \(SQL.ms("created_at")), \(SQL.ms("expires_at")), \(SQL.ms("last_active_at"))
        """

    static func record(_ row: PostgresRow) -> SessionRecord? {
        let kind: SessionRecord.Kind
        switch row["session_type"] {
        case "guest"?:
            guard let fingerprint = row["fingerprint"] else { return nil }
            kind = .guest(fingerprint: fingerprint)
        case "authenticated"?:
            guard let user = row["user_id"] else { return nil }
            kind = .user(id: user)
        default:
            return nil
        }
        return SessionRecord(
            id: row.string("id"), assistantID: row.string("assistant_id"), kind: kind,
            status: row.string("status"), createdAtMs: row.int64OrZero("created_at_ms"),
            expiresAtMs: row.int64OrZero("expires_at_ms"), lastActiveAtMs: row.int64OrZero("last_active_at_ms"),
            metadataJSON: row.string("metadata"))
    }

    static func message(_ record: SessionRecord) -> Loacl_V1_Session {
        var session = Loacl_V1_Session()
        session.id = record.id
        session.assistantID = record.assistantID
        switch record.kind {
        case .guest(let fingerprint):
            session.type = .guest
            session.fingerprint = fingerprint
        case .user(let id):
            session.type = .authenticated
            session.userID = id
        }
        session.status = switch record.status {
        case "active": .active
        case "expired": .expired
        case "revoked": .revoked
        default: .unspecified
        }
        session.createdAtMs = record.createdAtMs
        session.expiresAtMs = record.expiresAtMs
        session.lastActiveAtMs = record.lastActiveAtMs
        session.metadataJson = record.metadataJSON
        return session
    }
}
