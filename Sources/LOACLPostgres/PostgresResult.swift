/// A fully materialised query result in text format: every value is a `String?` (`nil` = SQL NULL).
public struct PostgresResult: Sendable, Equatable {
    /// Column names in result order.
    public let columns: [String]
    /// Row-major values.
    public let rows: [[String?]]
    /// Command tag such as `INSERT 0 1` or `SELECT 3`.
    public let commandStatus: String
    /// Rows inserted/updated/deleted/selected according to the command tag (0 when not reported).
    public let affectedRows: Int

    public init(columns: [String], rows: [[String?]], commandStatus: String, affectedRows: Int) {
        self.columns = columns
        self.rows = rows
        self.commandStatus = commandStatus
        self.affectedRows = affectedRows
    }

    public var rowCount: Int { rows.count }
    public var isEmpty: Bool { rows.isEmpty }

    /// Index of the first column called `name`.
    public func columnIndex(_ name: String) -> Int? { columns.firstIndex(of: name) }

    /// Row `row` as a name-addressable view.
    public subscript(row: Int) -> PostgresRow { PostgresRow(columns: columns, values: rows[row]) }

    /// Every row as a name-addressable view.
    public var namedRows: [PostgresRow] { rows.map { PostgresRow(columns: columns, values: $0) } }

    /// First row, if any.
    public var first: PostgresRow? { rows.first.map { PostgresRow(columns: columns, values: $0) } }

    /// Value of the first column of the first row (for `SELECT count(*)` and the like).
    public var scalar: String? { rows.first?.first ?? nil }
}

/// One result row; values by column name or position.
public struct PostgresRow: Sendable, Equatable {
    public let columns: [String]
    public let values: [String?]

    public subscript(index: Int) -> String? { values[index] }

    /// Value of column `name`; `nil` for SQL NULL or a missing column.
    public subscript(name: String) -> String? {
        guard let index = columns.firstIndex(of: name) else { return nil }
        return values[index]
    }

    public func int(_ name: String) -> Int? { self[name].flatMap { Int($0) } }
    public func int64(_ name: String) -> Int64? { self[name].flatMap { Int64($0) } }
    /// PostgreSQL's text form of boolean is `t` / `f`.
    public func bool(_ name: String) -> Bool? {
        switch self[name] {
        case "t"?: true
        case "f"?: false
        default: nil
        }
    }
    /// Decodes a `bytea` column sent in hex text form (`\x0a1b...`).
    public func bytes(_ name: String) -> [UInt8]? { self[name].flatMap(PostgresBytea.decode) }
}
