import Foundation
import LOACLMigrations
import LOACLPostgres
import LOACLTestKeys
import Testing

@Suite("Migration runner against a fresh database")
struct MigrationRunnerTests {
    let database: TestDatabase

    init() async throws {
        database = try await offCooperativePool { try TestDatabase() }
    }

    /// Every migration runs for a while: off the cooperative pool.
    @discardableResult
    func migrate() async throws -> [Migration] {
        let database = self.database
        return try await offCooperativePool { try database.migrate() }
    }

    @Test func appliesToEmptyDatabaseThenIsNoOp() async throws {
        let files = try Migration.load(from: TestCluster.migrationsDirectory)
        #expect(files.count >= 5)
        #expect(files.map(\.version) == files.map(\.version).sorted())

        let applied = try await migrate()
        #expect(applied.map(\.fileName) == files.map(\.fileName))
        #expect(try await migrate().isEmpty)

        let owner = try database.connect(as: "loacl_owner")
        defer { owner.close() }
        let recorded = try owner.exec("SELECT version, name, checksum FROM public.loacl_schema_migrations ORDER BY version")
        #expect(recorded.rowCount == files.count)
        #expect(recorded.namedRows.map { $0.int("version") } == files.map(\.version))
        #expect(recorded.namedRows.allSatisfy { $0["checksum"]?.count == 64 })
        #expect(try owner.value("SELECT count(*) FROM pg_tables WHERE schemaname = 'loacl'") == "17") // 0002's ten, runs and run_events (0012), knowledge files, chunks and terms (0015), file chunks and terms (0016)
    }

    @Test func editedMigrationIsRefusedBeforeAnythingRuns() async throws {
        try await migrate()
        var files = try Migration.load(from: TestCluster.migrationsDirectory)
        let edited = files[1]
        files[1] = Migration(
            version: edited.version, name: edited.name, fileName: edited.fileName,
            sql: edited.sql + "\n-- harmless edit\n")
        files.append(Migration(version: 9999, name: "later", fileName: "9999_later.sql",
                               sql: "CREATE TABLE public.should_not_exist (id int)"))

        let owner = try database.connect(as: "loacl_owner")
        defer { owner.close() }
        #expect {
            try MigrationRunner(migrations: files).run(on: owner)
        } throws: { error in
            guard case .checksumChanged(let fileName, let version, _, _) = error as? MigrationError else { return false }
            return fileName == edited.fileName && version == edited.version
                && "\(error)".contains(edited.fileName)
        }
        #expect(try owner.value("SELECT to_regclass('public.should_not_exist')") == nil)
    }

    @Test func failingMigrationIsRolledBackAndNotRecorded() throws {
        let migrations = [
            Migration(version: 1, name: "ok", fileName: "0001_ok.sql", sql: "CREATE TABLE public.ok_table (id int);"),
            Migration(version: 2, name: "broken", fileName: "0002_broken.sql",
                      sql: "CREATE TABLE public.half_done (id int); SELECT no_such_column FROM public.ok_table;"),
        ]
        let owner = try database.connect(as: "loacl_owner")
        defer { owner.close() }
        #expect {
            try MigrationRunner(migrations: migrations).run(on: owner)
        } throws: { error in
            guard case .failed(let fileName, let cause) = error as? MigrationError else { return false }
            return fileName == "0002_broken.sql" && cause.sqlState == "42703"
        }
        #expect(try owner.value("SELECT to_regclass('public.ok_table')") == "ok_table")
        #expect(try owner.value("SELECT to_regclass('public.half_done')") == nil)
        #expect(try owner.value("SELECT string_agg(version::text, ',') FROM public.loacl_schema_migrations") == "1")
        #expect(owner.transactionState == .idle)
    }

    @Test func missingFileOfAppliedVersionIsReported() throws {
        let owner = try database.connect(as: "loacl_owner")
        defer { owner.close() }
        let first = Migration(version: 1, name: "one", fileName: "0001_one.sql", sql: "SELECT 1")
        try MigrationRunner(migrations: [first]).run(on: owner)
        #expect(throws: MigrationError.missingFile(version: 1, name: "one")) {
            try MigrationRunner(migrations: []).run(on: owner)
        }
    }

    @Test func badFileNamesAreRejected() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("loacl-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 1".write(to: directory.appendingPathComponent("0001_first.sql"), atomically: true, encoding: .utf8)
        try "notes".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        #expect(try Migration.load(from: directory.path).map(\.name) == ["first"])

        try "SELECT 2".write(to: directory.appendingPathComponent("2_bad-name.sql"), atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.invalidFileName("2_bad-name.sql")) {
            try Migration.load(from: directory.path)
        }
    }
}
