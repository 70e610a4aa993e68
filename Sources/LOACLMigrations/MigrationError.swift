import LOACLPostgres

public enum MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case invalidFileName(String)
    case duplicateVersion(Int, [String])
    /// An applied migration's file was edited afterwards.
    case checksumChanged(fileName: String, version: Int, applied: String, current: String)
    /// The database records a version whose file is gone.
    case missingFile(version: Int, name: String)
    /// The migration's SQL failed; its transaction was rolled back.
    case failed(fileName: String, error: PostgresError)
    /// Creating/reading the bookkeeping table or taking the lock failed.
    case database(PostgresError)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            "cannot read migrations at \(path): \(reason)"
        case .invalidFileName(let name):
            "migration file \(name) is not named NNNN_name.sql"
        case .duplicateVersion(let version, let files):
            "migration version \(version) is used by several files: \(files.joined(separator: ", "))"
        case .checksumChanged(let fileName, let version, let applied, let current):
            "migration \(fileName) (version \(version)) was changed after it was applied "
                + "(applied checksum \(applied), file now \(current)); add a new migration instead of editing it"
        case .missingFile(let version, let name):
            "migration version \(version) (\(name)) is recorded as applied but its file is missing"
        case .failed(let fileName, let error):
            "migration \(fileName) failed and was rolled back: \(error)"
        case .database(let error):
            "migration bookkeeping failed: \(error)"
        }
    }
}
