import LOACLPostgres
import LOACLTestKeys
import Testing

@Suite("libpq connection wrapper")
struct PostgresConnectionTests {
    let database: TestDatabase
    let connection: PostgresConnection

    init() async throws {
        database = try await offCooperativePool { try TestDatabase() }
        connection = try database.connect(as: "loacl_owner")
    }

    @Test func parametersAndResultsRoundTrip() throws {
        let result = try connection.query(
            "SELECT $1::text AS word, $2::int + 1 AS next, $3::text IS NULL AS missing, $4::bytea AS raw, true AS yes",
            "grüße 'quoted' \\ $1", "41", nil, PostgresBytea.encode([0, 1, 0xfe, 0xff]))
        #expect(result.columns == ["word", "next", "missing", "raw", "yes"])
        let row = try #require(result.first)
        #expect(row["word"] == "grüße 'quoted' \\ $1")
        #expect(row.int("next") == 42)
        #expect(row.bool("missing") == true)
        #expect(row.bytes("raw") == [0, 1, 0xfe, 0xff])
        #expect(row.bool("yes") == true)
        #expect(row["nope"] == nil)

        let null = try connection.query("SELECT NULL::text AS nothing")
        #expect(null.rows == [[nil]])
    }

    @Test func commandStatusAndAffectedRows() throws {
        try connection.exec("CREATE TABLE public.t (id int PRIMARY KEY, label text)")
        let insert = try connection.query("INSERT INTO public.t VALUES (1, 'a'), (2, 'b'), (3, $1)", "c")
        #expect(insert.affectedRows == 3)
        #expect(insert.commandStatus == "INSERT 0 3")
        let update = try connection.query("UPDATE public.t SET label = $1 WHERE id > $2::int", "z", "1")
        #expect(update.affectedRows == 2)
        #expect(try connection.exec("SELECT id FROM public.t ORDER BY id").rows == [["1"], ["2"], ["3"]])
    }

    @Test func serverErrorsCarrySQLState() throws {
        // Invalid UTF-8 produced on the server.
        #expect { try connection.query("SELECT convert_from($1::bytea, 'UTF8')", "\\xff") } throws: { error in
            let error = error as? PostgresError
            return error?.kind == .server && error?.sqlState == SQLState.characterNotInRepertoire
        }
        // A parameter that does not parse as its type.
        #expect { try connection.query("SELECT $1::int", "forty-two") } throws: { error in
            (error as? PostgresError)?.sqlState == SQLState.invalidTextRepresentation
        }
        // Too few parameters for the statement.
        #expect { try connection.query("SELECT $1::int + $2::int", "1") } throws: { error in
            (error as? PostgresError)?.sqlState == SQLState.protocolViolation
        }
        // Syntax errors, with the message from the server.
        #expect { try connection.exec("SELEC 1") } throws: { error in
            let error = error as? PostgresError
            return error?.sqlState == "42601" && error?.message.contains("syntax") == true
        }
        // The connection stays usable.
        #expect(try connection.value("SELECT 1") == "1")
    }

    @Test func nulCharacterInParameterIsRejectedLocally() throws {
        #expect { try connection.query("SELECT $1::text", "a\u{0}b") } throws: { error in
            let error = error as? PostgresError
            return error?.kind == .client && error?.sqlState == SQLState.characterNotInRepertoire
        }
    }

    @Test func constraintViolationsNameTheConstraint() throws {
        try connection.exec("CREATE TABLE public.u (id int CONSTRAINT u_pkey PRIMARY KEY)")
        try connection.query("INSERT INTO public.u VALUES ($1::int)", "1")
        #expect { try connection.query("INSERT INTO public.u VALUES ($1::int)", "1") } throws: { error in
            let error = error as? PostgresError
            return error?.isUniqueViolation == true && error?.constraint == "u_pkey" && error?.detail != nil
        }
    }

    @Test func transactionCommitsOrRollsBack() throws {
        struct Boom: Error {}
        try connection.exec("CREATE TABLE public.tx (id int)")
        _ = try connection.transaction { try $0.exec("INSERT INTO public.tx VALUES (1)") }
        #expect(throws: Boom.self) {
            try connection.transaction { connection in
                try connection.exec("INSERT INTO public.tx VALUES (2)")
                throw Boom()
            }
        }
        #expect(throws: PostgresError.self) {
            try connection.transaction { try $0.exec("INSERT INTO public.tx VALUES ('not a number')") }
        }
        #expect(connection.transactionState == .idle)
        #expect(try connection.value("SELECT string_agg(id::text, ',') FROM public.tx") == "1")
    }

    @Test func localSettingsEndWithTheTransaction() throws {
        try connection.transaction { connection in
            try connection.setLocal("loacl.fingerprint", "fp-1")
            let inside = try connection.value("SELECT current_setting('loacl.fingerprint', true)")
            #expect(inside == "fp-1")
        }
        #expect(try connection.value("SELECT current_setting('loacl.fingerprint', true)") == "")
    }

    @Test func connectFailureAndClosedConnection() throws {
        #expect { try PostgresConnection.connect(database.conninfo(user: "no_such_role_xyz")) } throws: { error in
            (error as? PostgresError)?.kind == .connection
        }
        let extra = try database.connect(as: "loacl_owner")
        #expect(extra.isHealthy)
        #expect(extra.serverVersion >= 150000)
        extra.close()
        #expect(!extra.isHealthy)
        #expect { try extra.exec("SELECT 1") } throws: { ($0 as? PostgresError)?.kind == .connection }
    }

    @Test func byteaHexCodec() {
        #expect(PostgresBytea.encode([0xde, 0xad, 0xbe, 0xef]) == "\\xdeadbeef")
        #expect(PostgresBytea.hex([0x0a, 0xff]) == "0aff")
        #expect(PostgresBytea.decode("\\xDEADbeef") == [0xde, 0xad, 0xbe, 0xef])
        #expect(PostgresBytea.decode("\\x") == [])
        #expect(PostgresBytea.decode("deadbeef") == nil)
        #expect(PostgresBytea.decode("\\xabc") == nil)
        #expect(PostgresBytea.decode("\\xzz") == nil)
    }
}
