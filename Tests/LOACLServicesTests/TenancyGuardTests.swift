import Dispatch
import Foundation
import LOACLCore
import LOACLPostgres
@testable import LOACLServices
import LOACLTestKeys
import Testing

/// loacld refuses a database on which Row Level Security would not bind it (issue 17, part 1):
/// the real `loacld serve` binary exits non-zero before listening, naming the problem, and
/// nothing is written; the runtime role `loacl_app` on a sound database serves.
@Suite struct TenancyGuardTests {
    /// A migrated database with throwaway roles; `drop()` removes both.
    final class Fixture: @unchecked Sendable {
        // @unchecked: `roles` is only changed by the one test that owns the fixture, in order.
        let cluster: PGCluster
        let database: String
        let suffix = UUID().uuidString.lowercased().prefix(8)
        private var roles: [String] = []

        private init(cluster: PGCluster, database: String) {
            self.cluster = cluster
            self.database = database
        }

        static func make() async throws -> Fixture {
            try await offCooperativePool {
                let cluster = try PGCluster.fromEnvironment()
                return Fixture(cluster: cluster, database: try cluster.createMigratedDatabase())
            }
        }

        func drop() async {
            _ = try? await offCooperativePool { [self] in
                cluster.dropDatabase(database)
                try superuser(database: "postgres") { admin in
                    for role in roles.reversed() { try admin.exec("DROP ROLE IF EXISTS \(role)") }
                }
            }
        }

        func url(_ user: String) -> String { cluster.conninfo(database: database, user: user) }

        @discardableResult
        func superuser<T>(database: String? = nil, _ body: (PostgresConnection) throws -> T) throws -> T {
            let connection = try cluster.superuserConnection(database ?? self.database)
            defer { connection.close() }
            return try body(connection)
        }

        /// Creates a cluster-wide role named `name_<suffix>`; returns its name.
        func role(_ name: String, _ options: String) throws -> String {
            let role = "\(name)_\(suffix)"
            try superuser(database: "postgres") { try $0.exec("CREATE ROLE \(role) \(options)") }
            roles.append(role)
            return role
        }

        /// Rows in the tables loacld writes first (tenants, sessions), seen past RLS.
        func writtenRows() throws -> String? {
            try superuser { try $0.execParams("SELECT (SELECT count(*) FROM loacl.tenants) + (SELECT count(*) FROM loacl.sessions)", []).scalar }
        }
    }

    /// Runs `body` on a fresh fixture, dropped afterwards whatever happens.
    func withFixture(_ body: (Fixture) async throws -> Void) async throws {
        let fixture = try await Fixture.make()
        do {
            try await body(fixture)
        } catch {
            await fixture.drop()
            throw error
        }
        await fixture.drop()
    }

    /// Runs loacld as `user` and checks it refused before listening, saying `problem`.
    func expectRefused(_ fixture: Fixture, user: String, problem: String,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let outcome = try await LoacldProcess.serve(databaseURL: fixture.url(user))
        #expect(outcome.status != nil && outcome.status != 0, "loacld did not exit with an error: \(outcome.stderr)",
                sourceLocation: sourceLocation)
        #expect(!outcome.listened, "loacld listened", sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains("refusing to serve"), "\(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(outcome.stderr.contains(problem), "expected \(problem) in: \(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(!outcome.stderr.contains("serving"), "\(outcome.stderr)", sourceLocation: sourceLocation)
        #expect(try fixture.writtenRows() == "0", sourceLocation: sourceLocation)
    }

    /// One database for every role case (they change roles, not the database).
    @Test func rolesOnWhichRowLevelSecurityWouldNotBindAreRefused() async throws {
        try await withFixture { fixture in
            // The cluster's superuser (postgres in scripts/test.sh).
            try await expectRefused(fixture, user: fixture.cluster.superuser,
                                    problem: "database role \"\(fixture.cluster.superuser)\" bypasses row level security")

            // Everything loacl_app may do, plus BYPASSRLS: the misconfiguration an operator makes.
            let bypass = try fixture.role("loacl_bypass", "LOGIN BYPASSRLS IN ROLE loacl_app")
            try await expectRefused(fixture, user: bypass, problem: "database role \"\(bypass)\" bypasses row level security")

            // Indirect and NOINHERIT: the member inherits nothing, but may SET ROLE to the bypassing role.
            let bypassing = try fixture.role("loacl_admin", "NOLOGIN BYPASSRLS")
            let middle = try fixture.role("loacl_ops", "NOLOGIN IN ROLE \(bypassing)")
            let member = try fixture.role("loacl_member", "LOGIN NOINHERIT IN ROLE loacl_app, \(middle)")
            try fixture.superuser { try $0.exec("GRANT USAGE ON SCHEMA loacl TO \(member)") }
            try await expectRefused(fixture, user: member,
                                    problem: "database role \"\(member)\" is a member of \"\(bypassing)\", which bypasses row level security")

            // The migration role owns the tables.
            try await expectRefused(fixture, user: "loacl_owner", problem: "database role \"loacl_owner\" owns table loacl.")

            // The runtime role serves the same database.
            let outcome = try await LoacldProcess.serve(databaseURL: fixture.url("loacl_app"))
            #expect(outcome.listened, "loacld did not serve with loacl_app: \(outcome.stderr)")
            #expect(outcome.status == nil, "loacld exited: \(outcome.stderr)")
            #expect(!outcome.stderr.contains("refusing"))
        }
    }

    @Test func aTableWithoutForcedRowLevelSecurityIsRefused() async throws {
        try await withFixture { fixture in
            for (change, problem) in [("DISABLE ROW LEVEL SECURITY", "disabled"),
                                      ("ENABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY", "not forced")] {
                try fixture.superuser { try $0.exec("ALTER TABLE loacl.messages \(change)") }
                try await expectRefused(fixture, user: "loacl_app", problem: "table loacl.messages has row level security \(problem)")
            }
        }
    }

    /// A running server: the next connection its pool opens is checked too, and refused.
    @Test func aNewPoolConnectionIsCheckedAfterStartup() async throws {
        let fixture = try await Fixture.make()
        let pool = PostgresPool(configuration: .init(conninfo: fixture.url("loacl_app"), maxConnections: 2,
                                                     setup: Database.sessionSetup))
        let started = DispatchSemaphore(value: 0)
        let finish = DispatchSemaphore(value: 0)
        // Holds the first (checked) connection, so the next call must open a second one.
        let holder = Task { try await pool.withConnection { _ in started.signal(); finish.wait() } }
        try await offCooperativePool { started.wait() }
        try await offCooperativePool { try fixture.superuser { try $0.exec("ALTER TABLE loacl.files NO FORCE ROW LEVEL SECURITY") } }

        await #expect { try await pool.withConnection { _ in } } throws: { error in
            let error = try #require(error as? PostgresError)
            return error.sqlState == TenancyGuard.sqlState && error.message.contains("table loacl.files has row level security not forced")
        }
        await #expect(throws: RPCError.internal("internal error")) { try await Database(pool: pool).idempotent { _ in } }
        finish.signal()
        try await holder.value
        await pool.close()
        await fixture.drop()
    }
}
