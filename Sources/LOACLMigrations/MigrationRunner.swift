import LOACLPostgres
import Logging

/// Applies `migrations/NNNN_name.sql` files in version order, each in its own transaction,
/// recording them in `public.loacl_schema_migrations(version, name, checksum, applied_at)`.
///
/// Run it as the role that should own the schema (`loacl_owner`). Concurrent runners are
/// serialised with an advisory lock. A file whose checksum (SHA-256 of its text, computed by
/// the server) differs from the recorded one stops the run before anything is applied.
/// Migration files must not contain their own BEGIN/COMMIT.
public struct MigrationRunner: Sendable {
    public let migrations: [Migration]
    private let logger: Logger

    /// Arbitrary constant key for pg_advisory_lock.
    private static let lockKey = "7423817465019"

    public init(migrations: [Migration], logger: Logger = Logger(label: "loacl.migrations")) {
        self.migrations = migrations
        self.logger = logger
    }

    public init(directory: String, logger: Logger = Logger(label: "loacl.migrations")) throws(MigrationError) {
        self.init(migrations: try Migration.load(from: directory), logger: logger)
    }

    /// Applies pending migrations; returns those applied (empty when up to date).
    @discardableResult
    public func run(on connection: PostgresConnection) throws(MigrationError) -> [Migration] {
        do {
            try connection.exec("SELECT pg_advisory_lock(\(Self.lockKey))")
        } catch {
            throw .database(error)
        }
        defer { _ = try? connection.exec("SELECT pg_advisory_unlock(\(Self.lockKey))") }

        let applied = try appliedChecksums(connection)
        let checksums = try currentChecksums(connection)
        for (version, record) in applied.sorted(by: { $0.key < $1.key }) {
            guard let migration = migrations.first(where: { $0.version == version }) else {
                throw .missingFile(version: version, name: record.name)
            }
            let current = checksums[version]!
            if current != record.checksum {
                throw .checksumChanged(
                    fileName: migration.fileName, version: version, applied: record.checksum, current: current)
            }
        }

        var done: [Migration] = []
        for migration in migrations where applied[migration.version] == nil {
            logger.info("applying migration", metadata: ["file": "\(migration.fileName)"])
            do {
                try connection.transaction { connection in
                    try connection.exec(migration.sql)
                    try connection.execParams(
                        "INSERT INTO public.loacl_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        [String(migration.version), migration.name, checksums[migration.version]!])
                }
            } catch let error as PostgresError {
                throw .failed(fileName: migration.fileName, error: error)
            } catch {
                throw .failed(fileName: migration.fileName, error: PostgresError(kind: .client, message: "\(error)"))
            }
            done.append(migration)
        }
        if done.isEmpty { logger.info("database schema is up to date") }
        return done
    }

    /// Versions recorded as applied, with name and checksum.
    public func applied(on connection: PostgresConnection) throws(MigrationError) -> [Int: (name: String, checksum: String)] {
        try appliedChecksums(connection)
    }

    private func appliedChecksums(_ connection: PostgresConnection) throws(MigrationError) -> [Int: (name: String, checksum: String)] {
        do {
            try connection.exec("""
                CREATE TABLE IF NOT EXISTS public.loacl_schema_migrations (
                    version    integer     PRIMARY KEY,
                    name       text        NOT NULL,
                    checksum   text        NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            let result = try connection.exec("SELECT version, name, checksum FROM public.loacl_schema_migrations")
            var applied: [Int: (name: String, checksum: String)] = [:]
            for row in result.namedRows {
                guard let version = row.int("version") else { continue }
                applied[version] = (row["name"] ?? "", row["checksum"] ?? "")
            }
            return applied
        } catch {
            throw .database(error)
        }
    }

    /// SHA-256 (hex) of each file's text, computed by the server so no crypto library is needed.
    private func currentChecksums(_ connection: PostgresConnection) throws(MigrationError) -> [Int: String] {
        var checksums: [Int: String] = [:]
        for migration in migrations {
            do {
                let result = try connection.execParams(
                    "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", [migration.sql])
                checksums[migration.version] = result.scalar ?? ""
            } catch {
                throw .failed(fileName: migration.fileName, error: error)
            }
        }
        return checksums
    }
}
