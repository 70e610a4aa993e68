import Foundation
import LOACLMigrations
import LOACLPostgres
import Logging

/// The PostgreSQL cluster the tests use (env LOACL_TEST_PG_HOST / _PORT / _USER, as the test
/// script exports them).
struct PGCluster: Sendable {
    struct NotConfigured: Error, CustomStringConvertible {
        var description: String {
            "LOACL_TEST_PG_HOST / LOACL_TEST_PG_PORT are not set: run scripts/test.sh, or scripts/local-postgres.sh start && eval \"$(scripts/local-postgres.sh env)\""
        }
    }

    var host: String
    var port: String
    var superuser: String

    static func fromEnvironment() throws -> PGCluster {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["LOACL_TEST_PG_HOST"], !host.isEmpty, let port = env["LOACL_TEST_PG_PORT"], !port.isEmpty else {
            throw NotConfigured()
        }
        return PGCluster(host: host, port: port, superuser: env["LOACL_TEST_PG_USER"] ?? "postgres")
    }

    func conninfo(database: String, user: String) -> String {
        "host='\(host)' port='\(port)' dbname='\(database)' user='\(user)' application_name='loacl-services-tests' connect_timeout=2"
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Creates a fresh database owned by loacl_owner and applies the migrations; returns its name.
    func createMigratedDatabase() throws -> String {
        let name = "loacl_svc_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let admin = try PostgresConnection.connect(conninfo(database: "postgres", user: superuser))
        defer { admin.close() }
        for (role, options) in [("loacl_owner", "LOGIN NOSUPERUSER NOBYPASSRLS"),
                                ("loacl_app", "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE")] {
            try admin.exec("""
                DO $$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(role)') THEN CREATE ROLE \(role) \(options); END IF;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END $$
                """)
        }
        try admin.exec("CREATE DATABASE \(name) OWNER loacl_owner ENCODING 'UTF8' TEMPLATE template0")
        let owner = try PostgresConnection.connect(conninfo(database: String(name), user: "loacl_owner"))
        defer { owner.close() }
        var logger = Logger(label: "loacl.services.tests.migrations")
        logger.logLevel = .warning
        try MigrationRunner(directory: Self.repositoryRoot.appendingPathComponent("migrations").path, logger: logger).run(on: owner)
        return String(name)
    }

    func dropDatabase(_ name: String) {
        if let admin = try? PostgresConnection.connect(conninfo(database: "postgres", user: superuser)) {
            _ = try? admin.exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            admin.close()
        }
    }

    /// A superuser connection to `database` (bypasses RLS: for setting up and checking).
    func superuserConnection(_ database: String) throws -> PostgresConnection {
        try PostgresConnection.connect(conninfo(database: database, user: superuser))
    }
}
