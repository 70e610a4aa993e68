import Foundation
import LOACLMigrations
import LOACLPostgres
import Logging

/// Settings of the real PostgreSQL cluster the tests run against (started by the test script).
enum TestCluster {
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String {
            """
            LOACL_TEST_PG_HOST / LOACL_TEST_PG_PORT are not set. These tests need a real PostgreSQL 15: \
            run the project's test script, or by hand: scripts/local-postgres.sh start && \
            eval "$(scripts/local-postgres.sh env)"
            """
        }
    }

    /// (socket folder or host, port, superuser)
    static func settings() throws -> (host: String, port: String, superuser: String) {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["LOACL_TEST_PG_HOST"], !host.isEmpty,
              let port = env["LOACL_TEST_PG_PORT"], !port.isEmpty
        else { throw NotConfigured() }
        return (host, port, env["LOACL_TEST_PG_USER"] ?? "postgres")
    }

    static var migrationsDirectory: String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("migrations").path
    }
}

/// The drops `TestDatabase.deinit` started and that have not finished.
private let pendingDrops = DispatchGroup()

/// A fresh database (owned by loacl_owner) for one test; dropped on deinit. Make it with
/// `offCooperativePool { try TestDatabase() }` from async code: creating (and migrating) it
/// blocks, and every test of the process shares the cooperative pool's few threads.
final class TestDatabase: Sendable {
    let name: String
    let host: String
    let port: String
    let superuser: String

    init() throws {
        (host, port, superuser) = try TestCluster.settings()
        name = "loacl_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try PostgresConnection.connect(conninfo(database: "postgres", user: superuser))
        defer { admin.close() }
        try Self.ensureRoles(admin)
        try admin.exec("CREATE DATABASE \(name) OWNER loacl_owner ENCODING 'UTF8' TEMPLATE template0")
    }

    /// Drops the database on a thread of its own: the last reference usually goes at the end of
    /// a test, on the cooperative pool. The process waits for the drops still running at exit.
    deinit {
        let admin = conninfo(database: "postgres", user: superuser), name = self.name
        Self.registerExitWait
        pendingDrops.enter()
        Thread.detachNewThread {
            if let connection = try? PostgresConnection.connect(admin) {
                _ = try? connection.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                connection.close()
            }
            pendingDrops.leave()
        }
    }

    private static let registerExitWait: Void = { atexit { _ = pendingDrops.wait(timeout: .now() + 30) } }()

    func conninfo(database: String? = nil, user: String) -> String {
        "host='\(host)' port='\(port)' dbname='\(database ?? name)' user='\(user)' application_name='loacl-tests'"
    }

    func connect(as user: String) throws -> PostgresConnection {
        try PostgresConnection.connect(conninfo(user: user))
    }

    /// Applies the repository's migrations as loacl_owner.
    @discardableResult
    func migrate() throws -> [Migration] {
        let owner = try connect(as: "loacl_owner")
        defer { owner.close() }
        var logger = Logger(label: "loacl.migrations.test")
        logger.logLevel = .warning
        return try MigrationRunner(directory: TestCluster.migrationsDirectory, logger: logger).run(on: owner)
    }

    /// The cluster-wide roles local-postgres.sh creates; made here too so any superuser cluster works.
    private static func ensureRoles(_ admin: PostgresConnection) throws {
        for (role, options) in [
            ("loacl_owner", "LOGIN NOSUPERUSER NOBYPASSRLS"),
            ("loacl_app", "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
        ] {
            // Another test may create it at the same moment.
            try admin.exec("""
                DO $$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(role)') THEN
                        CREATE ROLE \(role) \(options);
                    END IF;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END $$
                """)
        }
    }
}

/// The request identity the server sets per transaction.
struct Identity: Sendable {
    var userID: String?
    var fingerprint: String?
    var tenantKeyHash: [UInt8]?
    var sessionID: String?

    static func tenant(_ hash: [UInt8]) -> Identity { Identity(tenantKeyHash: hash) }
    static func guest(_ fingerprint: String, session: String? = nil) -> Identity {
        Identity(fingerprint: fingerprint, sessionID: session)
    }
    static func user(_ id: String, session: String? = nil) -> Identity { Identity(userID: id, sessionID: session) }

    func apply(_ connection: PostgresConnection) throws {
        if let userID { try connection.setLocal("loacl.user_id", userID) }
        if let fingerprint { try connection.setLocal("loacl.fingerprint", fingerprint) }
        if let tenantKeyHash { try connection.setLocal("loacl.tenant_key_hash", PostgresBytea.hex(tenantKeyHash)) }
        if let sessionID { try connection.setLocal("loacl.session_id", sessionID) }
    }
}

extension PostgresConnection {
    /// Runs `body` in a transaction with `identity` set (as the server does).
    func with<T>(_ identity: Identity, _ body: (PostgresConnection) throws -> T) throws -> T {
        try transaction { connection in
            try identity.apply(connection)
            return try body(connection)
        }
    }

    /// First column of the first row.
    func value(_ sql: String, _ parameters: String?...) throws -> String? {
        try execParams(sql, parameters).scalar
    }
}
