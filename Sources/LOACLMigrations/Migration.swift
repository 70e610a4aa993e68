import Foundation

/// One `NNNN_name.sql` file of the migrations folder.
public struct Migration: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let fileName: String
    public let sql: String

    public init(version: Int, name: String, fileName: String, sql: String) {
        self.version = version
        self.name = name
        self.fileName = fileName
        self.sql = sql
    }

    /// Reads every `*.sql` file of `directory`, sorted by version. Each must be called
    /// `NNNN_name.sql` (four or more digits, then letters, digits or underscores); other files
    /// (README, ...) are ignored.
    public static func load(from directory: String) throws(MigrationError) -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .unreadable(path: directory, reason: "\(error)")
        }
        var migrations: [Migration] = []
        for fileName in names.sorted() where fileName.hasSuffix(".sql") {
            guard let (version, name) = parse(fileName) else { throw .invalidFileName(fileName) }
            let path = (directory as NSString).appendingPathComponent(fileName)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw .unreadable(path: path, reason: "cannot read file")
            }
            guard let sql = String(data: data, encoding: .utf8) else {
                throw .unreadable(path: path, reason: "not valid UTF-8")
            }
            if let other = migrations.first(where: { $0.version == version }) {
                throw .duplicateVersion(version, [other.fileName, fileName])
            }
            migrations.append(Migration(version: version, name: name, fileName: fileName, sql: sql))
        }
        return migrations.sorted { $0.version < $1.version }
    }

    /// `0001_initial_schema.sql` -> (1, "initial_schema").
    static func parse(_ fileName: String) -> (Int, String)? {
        let stem = fileName.dropLast(".sql".count)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        let name = stem[stem.index(after: underscore)...]
        guard digits.count >= 4, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let version = Int(digits), !name.isEmpty,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        else { return nil }
        return (version, String(name))
    }
}
