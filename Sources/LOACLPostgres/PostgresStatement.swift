/// One SQL statement with its text parameters (`nil` = SQL NULL), for `PostgresConnection.pipeline`
/// and `enqueue`.
public struct PostgresStatement: Sendable, Hashable {
    public var sql: String
    public var parameters: [String?]
    /// Whether to keep it as a prepared statement on the connection. Off for one-off SQL.
    public var prepare: Bool

    public init(_ sql: String, _ parameters: [String?] = [], prepare: Bool = true) {
        self.sql = sql
        self.parameters = parameters
        self.prepare = prepare
    }

    var isCommit: Bool { Self.isCommit(sql) }

    /// `COMMIT`/`END` (any case, optional semicolon): the statements whose loss leaves a
    /// transaction's outcome unknown.
    static func isCommit(_ sql: String) -> Bool {
        var text = Substring(sql).drop { $0.isWhitespace }
        while let last = text.last, last.isWhitespace || last == ";" { text = text.dropLast() }
        let word = text.uppercased()
        return word == "COMMIT" || word == "END" || word == "COMMIT TRANSACTION" || word == "COMMIT WORK"
    }
}
