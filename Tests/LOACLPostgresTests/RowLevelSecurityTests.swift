import LOACLPostgres
import LOACLTestKeys
import Testing

@Suite("Row level security as loacl_app")
struct RowLevelSecurityTests {
    let database: TestDatabase
    let app: PostgresConnection
    let admin: PostgresConnection
    let fixture: RLSFixture

    static let tables = [
        "tenants", "assistants", "assistant_quotas", "guided_questions", "sessions", "threads",
        "messages", "files", "follow_up_suggestions", "usage_metrics", "runs", "run_events",
        "knowledge_files", "knowledge_chunks", "knowledge_terms", "file_chunks", "file_terms",
    ]

    /// Privileges deliberately not granted to loacl_app.
    static let notGranted: Set<String> = ["DELETE tenants", "UPDATE usage_metrics", "DELETE usage_metrics",
                                          "DELETE runs", "UPDATE run_events", "DELETE run_events",
                                          "UPDATE knowledge_files", "UPDATE knowledge_chunks",
                                          "DELETE knowledge_terms", "UPDATE file_chunks", "DELETE file_terms"]

    init() async throws {
        database = try await offCooperativePool {
            let database = try TestDatabase()
            try database.migrate()
            return database
        }
        app = try database.connect(as: "loacl_app")
        admin = try database.connect(as: "postgres")
        fixture = try RLSFixture(app: app)
    }

    /// Identity A must neither see nor change any row of identity B; B itself sees each of them
    /// (so the check can fail). Afterwards every row of B still exists unchanged.
    func expectIsolated(_ a: Identity, from b: RLSFixture.Owned) throws {
        for (table, id) in b.rows.sorted(by: { $0.key < $1.key }) {
            let key = RLSFixture.keyColumn(table)
            let select = "SELECT count(*) FROM loacl.\(table) WHERE \(key) = $1"
            #expect(try app.with(b.identity) { try $0.value(select, id) } != "0", "\(table) visible to its owner")
            #expect(try app.with(a) { try $0.value(select, id) } == "0", "\(table) hidden")

            let update = "UPDATE loacl.\(table) SET \(RLSFixture.touch[table]!) WHERE \(key) = $1"
            let delete = "DELETE FROM loacl.\(table) WHERE \(key) = $1"
            for (verb, statement) in [("UPDATE", update), ("DELETE", delete)] {
                do {
                    let changed = try app.with(a) { try $0.query(statement, id).affectedRows }
                    #expect(changed == 0, "\(statement)")
                } catch let error as PostgresError {
                    // Where loacl_app has no such privilege at all the statement is refused outright.
                    #expect(Self.notGranted.contains("\(verb) \(table)") && error.isInsufficientPrivilege,
                            "\(statement): \(error)")
                }
            }
            #expect(try admin.value(select, id) != "0", "\(table) row survived")
        }
    }

    @Test func tenantsAreIsolated() throws {
        try expectIsolated(fixture.tenants["A"]!.identity, from: fixture.tenants["B"]!)
        try expectIsolated(fixture.tenants["B"]!.identity, from: fixture.tenants["A"]!)
        // A tenant sees no conversations at all.
        try app.with(fixture.tenants["A"]!.identity) { c in
            for table in ["sessions", "threads", "messages", "files", "follow_up_suggestions", "file_chunks", "file_terms"] {
                let count = try c.value("SELECT count(*) FROM loacl.\(table)")
                #expect(count == "0", "\(table)")
            }
        }
    }

    @Test func guestsAreIsolated() throws {
        try expectIsolated(fixture.guests["A"]!.identity, from: fixture.guests["B"]!)
        try expectIsolated(fixture.guests["A"]!.identity, from: fixture.users["A"]!)
        // (Guest A may read tenant A's active guided questions: its session is on assistant A.)
        try expectIsolated(fixture.guests["A"]!.identity, from: fixture.tenants["B"]!)
    }

    @Test func usersAreIsolated() throws {
        try expectIsolated(fixture.users["A"]!.identity, from: fixture.users["B"]!)
        try expectIsolated(fixture.users["B"]!.identity, from: fixture.guests["B"]!)
        try expectIsolated(fixture.users["A"]!.identity, from: fixture.tenants["B"]!)
    }

    @Test func noIdentityMeansNoRows() throws {
        for table in Self.tables {
            #expect(try app.value("SELECT count(*) FROM loacl.\(table)") == "0", "\(table)")
            #expect(try admin.value("SELECT count(*) FROM loacl.\(table)") != "0", "\(table) has rows")
        }
    }

    @Test func writesIntoOtherIdentitiesAreRefused() throws {
        let guestA = fixture.guests["A"]!, guestB = fixture.guests["B"]!
        let refused: [(Identity, String, [String?])] = [
            (guestA.identity, "INSERT INTO loacl.threads (session_id) VALUES ($1)", [guestB.sessionID]),
            (guestA.identity, "INSERT INTO loacl.messages (thread_id, role, content) VALUES ($1, 'user', 'x')",
             [guestB.rows["threads"]]),
            (guestA.identity, "UPDATE loacl.threads SET session_id = $1 WHERE id = $2",
             [guestB.sessionID, guestA.rows["threads"]]),
            (guestA.identity,
             "INSERT INTO loacl.sessions (assistant_id, session_type, fingerprint, token_hash) VALUES ($1, 'guest', 'fp-B', $2)",
             [fixture.assistants["A"], PostgresBytea.encode(Array(repeating: 0x77, count: 32))]),
            (fixture.users["A"]!.identity,
             "INSERT INTO loacl.sessions (assistant_id, session_type, user_id, token_hash) VALUES ($1, 'authenticated', $2, $3)",
             [fixture.assistants["A"], RLSFixture.userB, PostgresBytea.encode(Array(repeating: 0x78, count: 32))]),
            (fixture.tenants["A"]!.identity, "INSERT INTO loacl.assistants (tenant_id, name) VALUES ($1, 'x')",
             [fixture.tenants["B"]!.rows["tenants"]]),
            (fixture.tenants["A"]!.identity,
             "INSERT INTO loacl.usage_metrics (assistant_id, metric_type, metric_value) VALUES ($1, 'tokens', 1)",
             [fixture.assistants["B"]]),
            (guestA.identity,
             "INSERT INTO loacl.usage_metrics (assistant_id, session_id, metric_type, metric_value) VALUES ($1, $2, 'tokens', 1)",
             [fixture.assistants["B"], guestB.sessionID]),
            // Search chunks and term counts for another guest's thread attachment (0016).
            (guestA.identity,
             "INSERT INTO loacl.file_chunks (file_id, thread_id, chunk_index, content, tsv) VALUES ($1, $2, 7, 'x', 'x')",
             [guestB.rows["files"], guestB.rows["threads"]]),
            (guestA.identity, "INSERT INTO loacl.file_terms (thread_id, lexeme, chunks) VALUES ($1, 'planted', 1)",
             [guestB.rows["threads"]]),
        ]
        for (identity, sql, parameters) in refused {
            #expect(performing: { try app.with(identity) { try $0.execParams(sql, parameters) } }, throws: { error in
                (error as? PostgresError)?.isInsufficientPrivilege == true
            })
        }
    }

    /// A message carries its thread's session (the messages policy reads that copy, 0009):
    /// whatever an insert or an update says, the trigger takes it from the thread.
    @Test func aMessageKeepsItsThreadsSession() throws {
        let guestA = fixture.guests["A"]!
        try app.with(guestA.identity) { c in
            let row = try c.execParams("""
                INSERT INTO loacl.messages (thread_id, role, content, session_id)
                VALUES ($1, 'user', 'x', gen_random_uuid()) RETURNING id, session_id::text
                """, [guestA.rows["threads"]]).first
            #expect(row?[1] == guestA.sessionID)
            let updated = try c.execParams(
                "UPDATE loacl.messages SET session_id = gen_random_uuid() WHERE id = $1 RETURNING session_id::text",
                [row?[0]]).first
            #expect(updated?[0] == guestA.sessionID)
        }
    }

    @Test func runtimeRoleCannotBypassRowLevelSecurity() throws {
        let role = try #require(try admin.query(
            "SELECT rolsuper, rolbypassrls, rolcreaterole FROM pg_roles WHERE rolname = 'loacl_app'").first)
        #expect(role.bool("rolsuper") == false)
        #expect(role.bool("rolbypassrls") == false)
        #expect(role.bool("rolcreaterole") == false)
        #expect(try admin.value("""
            SELECT (SELECT count(*) FROM pg_class WHERE relowner = 'loacl_app'::regrole)
                 + (SELECT count(*) FROM pg_proc WHERE proowner = 'loacl_app'::regrole)
                 + (SELECT count(*) FROM pg_namespace WHERE nspowner = 'loacl_app'::regrole)
            """) == "0")
        let tables = try admin.exec("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
            FROM pg_class c WHERE c.relnamespace = 'loacl'::regnamespace AND c.relkind = 'r' ORDER BY 1
            """)
        #expect(tables.namedRows.map { $0["relname"]! } == Self.tables.sorted())
        for table in tables.namedRows {
            #expect(table.bool("relrowsecurity") == true, "\(table["relname"]!)")
            #expect(table.bool("relforcerowsecurity") == true, "\(table["relname"]!)")
            #expect((table.int("policies") ?? 0) > 0, "\(table["relname"]!)")
        }

        try app.exec("SET row_security = off")
        for table in Self.tables {
            #expect(performing: { try app.exec("SELECT * FROM loacl.\(table)") }, throws: { error in
                (error as? PostgresError)?.isInsufficientPrivilege == true
            })
        }
        try app.exec("RESET row_security")
        #expect(performing: { try app.exec("ALTER TABLE loacl.sessions DISABLE ROW LEVEL SECURITY") }, throws: { error in
            (error as? PostgresError)?.isInsufficientPrivilege == true
        })
    }

    @Test func guestsReadTheirAssistantsQuestionsThroughTheirSession() throws {
        let guestA = fixture.guests["A"]!
        var withoutSession = guestA.identity
        withoutSession.sessionID = nil
        #expect(try app.with(withoutSession) { try $0.value("SELECT count(*) FROM loacl.guided_questions") } == "0")

        let questions = try app.with(guestA.identity) {
            try $0.exec("SELECT question FROM loacl.guided_questions ORDER BY priority DESC, id")
        }
        #expect(questions.rows == [["Question of A?"]]) // active ones of assistant A only
        let info = try app.with(guestA.identity) { try $0.exec("SELECT * FROM loacl.session_assistant()") }
        #expect(info.first?["name"] == "Assistant A")
        #expect(info.first?["assistant_id"] == "asst_A")
        #expect(info.columns.contains("instructions") == false)
        #expect(try app.with(guestA.identity) { try $0.value("SELECT count(*) FROM loacl.assistants") } == "0")

        // Pointing loacl.session_id at someone else's session reveals nothing.
        var spoofed = guestA.identity
        spoofed.sessionID = fixture.guests["B"]!.sessionID
        #expect(try app.with(spoofed) { try $0.value("SELECT count(*) FROM loacl.guided_questions") } == "0")
        #expect(try app.with(spoofed) { try $0.exec("SELECT * FROM loacl.session_assistant()") }.isEmpty)

        let userB = fixture.users["B"]!
        #expect(try app.with(userB.identity) { try $0.value("SELECT question FROM loacl.guided_questions") } == "Question of B?")
    }

    @Test func guestSessionGetsTheAssistantsTTLAndResolvesByToken() throws {
        let guestA = fixture.guests["A"]!
        #expect(try admin.value(
            "SELECT expires_at - created_at = interval '24 hours' FROM loacl.sessions WHERE id = $1",
            guestA.sessionID) == "t")
        #expect(try admin.value(
            "SELECT expires_at IS NULL FROM loacl.sessions WHERE id = $1", fixture.users["A"]!.sessionID) == "t")

        let token = PostgresBytea.encode(guestA.tokenHash)
        #expect(try app.value("SELECT id FROM loacl.resolve_session($1)", token) == guestA.sessionID)
        #expect(try app.query("SELECT * FROM loacl.resolve_session($1)", PostgresBytea.encode(Array(repeating: 1, count: 32))).isEmpty)

        // Touching the session is a plain UPDATE; revoking (logout) goes through revoke_session().
        let touched = try app.with(guestA.identity) {
            try $0.query("UPDATE loacl.sessions SET last_active_at = now() WHERE id = $1", guestA.sessionID).affectedRows
        }
        #expect(touched == 1)
        let foreign = try app.with(fixture.guests["B"]!.identity) {
            try $0.value("SELECT loacl.revoke_session($1)", guestA.sessionID)
        }
        #expect(foreign == "f")
        #expect(try app.value("SELECT id FROM loacl.resolve_session($1)", token) == guestA.sessionID)
        let revoked = try app.with(guestA.identity) { try $0.value("SELECT loacl.revoke_session($1)", guestA.sessionID) }
        #expect(revoked == "t")
        #expect(try admin.value("SELECT status FROM loacl.sessions WHERE id = $1", guestA.sessionID) == "revoked")
        #expect(try app.query("SELECT * FROM loacl.resolve_session($1)", token).isEmpty)
        #expect(try app.with(guestA.identity) { try $0.value("SELECT count(*) FROM loacl.threads") } == "0")
    }

    @Test func expiredGuestSessionsAreHiddenAndSwept() throws {
        let guestA = fixture.guests["A"]!
        try admin.query("""
            UPDATE loacl.sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day'
            WHERE id = $1
            """, guestA.sessionID)
        // Read-time check: hidden before any sweep.
        #expect(try admin.value("SELECT status FROM loacl.sessions WHERE id = $1", guestA.sessionID) == "active")
        #expect(try app.with(guestA.identity) { try $0.value("SELECT count(*) FROM loacl.sessions") } == "0")
        #expect(try app.with(guestA.identity) { try $0.value("SELECT count(*) FROM loacl.messages") } == "0")
        #expect(try app.query("SELECT * FROM loacl.resolve_session($1)", PostgresBytea.encode(guestA.tokenHash)).isEmpty)
        #expect(throws: PostgresError.self) {
            try app.with(guestA.identity) {
                try $0.query("INSERT INTO loacl.threads (session_id) VALUES ($1)", guestA.sessionID)
            }
        }

        #expect(try app.value("SELECT loacl.expire_guest_sessions()") == "1")
        #expect(try admin.value("SELECT status FROM loacl.sessions WHERE id = $1", guestA.sessionID) == "expired")
        #expect(try admin.value("SELECT count(*) FROM loacl.sessions WHERE status = 'active'") == "3")
        #expect(try app.value("SELECT loacl.expire_guest_sessions()") == "0")
    }

    @Test func endedSessionsCannotBeReactivated() throws {
        let userA = fixture.users["A"]!
        let revoked = try app.with(userA.identity) { try $0.value("SELECT loacl.revoke_session($1)", userA.sessionID) }
        #expect(revoked == "t")
        // The user still sees its ended session (and its threads) but cannot reopen it.
        #expect(try app.with(userA.identity) { try $0.value("SELECT status FROM loacl.sessions") } == "revoked")
        #expect(try app.with(userA.identity) { try $0.value("SELECT count(*) FROM loacl.threads") } == "1")
        #expect(performing: {
            try app.with(userA.identity) {
                try $0.query("UPDATE loacl.sessions SET status = 'active' WHERE id = $1", userA.sessionID)
            }
        }, throws: { ($0 as? PostgresError)?.isCheckViolation == true })
    }

    @Test func messageTokensAreTrackedWithTheThreadsAssistantAndSession() throws {
        let userA = fixture.users["A"]!
        let usage = try admin.query(
            "SELECT assistant_id, session_id, thread_id, metric_type, metric_value FROM loacl.usage_metrics WHERE id = $1",
            userA.rows["usage_metrics"])
        #expect(usage.first?["assistant_id"] == fixture.assistants["A"])
        #expect(usage.first?["session_id"] == userA.sessionID)
        #expect(usage.first?["thread_id"] == userA.rows["threads"])
        #expect(usage.first?["metric_type"] == "tokens")
        #expect(usage.first?["metric_value"] == "10")

        try app.with(userA.identity) { c in
            try c.query("UPDATE loacl.messages SET tokens_used = 25 WHERE id = $1", userA.rows["messages"])
            try c.query("INSERT INTO loacl.messages (thread_id, role, content) VALUES ($1, 'assistant', 'no tokens')",
                        userA.rows["threads"])
            let rows = try c.query(
                "SELECT metric_value FROM loacl.usage_metrics WHERE thread_id = $1 ORDER BY recorded_at, metric_value",
                userA.rows["threads"])
            #expect(rows.rows == [["10"], ["15"]])
        }

        // Quotas: the tenant and the session's owner see the assistant's usage against its limit.
        let quota = "SELECT used || '/' || max_value FROM loacl.quota_usage($1) WHERE metric_type = 'tokens'"
        #expect(try app.with(fixture.tenants["A"]!.identity) { try $0.value(quota, fixture.assistants["A"]) } == "35/1000")
        #expect(try app.with(userA.identity) { try $0.value(quota, fixture.assistants["A"]) } == "35/1000")
        #expect(try app.with(fixture.guests["B"]!.identity) { try $0.value(quota, fixture.assistants["A"]) } == nil)
        #expect(try app.with(fixture.tenants["B"]!.identity) { try $0.value(quota, fixture.assistants["A"]) } == nil)
    }

    @Test func threadsListNewestFirstAndSoftDelete() throws {
        let guestA = fixture.guests["A"]!
        try app.with(guestA.identity) { c in
            let second = try c.value("INSERT INTO loacl.threads (session_id, title) VALUES ($1, 'second') RETURNING id",
                                     guestA.sessionID)
            let assistant = try c.value("SELECT assistant_id FROM loacl.threads WHERE id = $1", second)
            #expect(assistant == fixture.assistants["A"])
            try c.query("UPDATE loacl.threads SET status = 'deleted', deleted_at = now() WHERE id = $1", second)
            let active = try c.query(
                "SELECT title FROM loacl.threads WHERE session_id = $1 AND status = 'active' ORDER BY updated_at DESC, id DESC",
                guestA.sessionID)
            #expect(active.rows == [["hello"]])
            #expect(throws: PostgresError.self) {
                try c.query("UPDATE loacl.threads SET status = 'deleted' WHERE id = $1", guestA.rows["threads"])
            }
        }
    }
}
