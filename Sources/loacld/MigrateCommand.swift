import ArgumentParser
import Foundation
import LOACLMigrations
import LOACLPostgres

/// `loacld migrate`: applies pending `migrations/NNNN_name.sql` files.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations (run as the schema owner role, e.g. loacl_owner).")

    @Option(
        name: [.customLong("database-url"), .customLong("conninfo")],
        help: """
            libpq connection string or URI of the migration role. Default: env \
            LOACL_MIGRATION_DATABASE_URL, else LOACL_DATABASE_URL.
            """)
    var databaseURL: String?

    @Option(help: "Folder holding the NNNN_name.sql files.")
    var migrationsDir: String = "migrations"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let conninfo = databaseURL
            ?? environment["LOACL_MIGRATION_DATABASE_URL"]
            ?? environment["LOACL_DATABASE_URL"]
        else {
            throw ValidationError("no database: pass --database-url or set LOACL_MIGRATION_DATABASE_URL / LOACL_DATABASE_URL")
        }
        let runner = try MigrationRunner(directory: migrationsDir)
        // One-shot command: blocking libpq calls on this task are acceptable here.
        let connection = try PostgresConnection.connect(conninfo)
        defer { connection.close() }
        let applied = try runner.run(on: connection)
        if applied.isEmpty {
            print("migrate: up to date (\(runner.migrations.count) migrations)")
        } else {
            for migration in applied { print("migrate: applied \(migration.fileName)") }
        }
    }
}
