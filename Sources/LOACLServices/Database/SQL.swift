import LOACLCore
import LOACLPostgres

/// Small SQL fragments shared by the services.
enum SQL {
    /// `timestamptz` → Unix milliseconds (`int8`), NULL stays NULL.
    static func ms(_ column: String, as name: String? = nil) -> String {
        "floor(extract(epoch FROM \(column)) * 1000)::int8 AS \(name ?? column + "_ms")"
    }

    /// `timestamptz` → Unix microseconds, exact (for page cursors).
    static func micros(_ column: String, as name: String) -> String {
        "(extract(epoch FROM \(column)) * 1000000)::int8 AS \(name)"
    }

    /// SQL expression turning the `int8` parameter `$n` of Unix microseconds back into a timestamptz.
    static func timestamp(micros parameter: String) -> String {
        "('epoch'::timestamptz + \(parameter)::int8 * interval '1 microsecond')"
    }

    /// SQL expression turning the `int8` parameter `$n` of Unix milliseconds into a timestamptz.
    static func timestamp(millis parameter: String) -> String {
        "('epoch'::timestamptz + \(parameter)::int8 * interval '1 millisecond')"
    }
}

extension PostgresRow {
    func string(_ name: String) -> String { self[name] ?? "" }
    func int64OrZero(_ name: String) -> Int64 { int64(name) ?? 0 }

    /// A `text[]` column in PostgreSQL's array text form, for arrays of simple identifiers
    /// (no quoting needed: the services only store `[a-z0-9_]` words or UUIDs in arrays).
    func simpleArray(_ name: String) -> [String] {
        guard let text = self[name], text.count >= 2 else { return [] }
        let inner = text.dropFirst().dropLast()
        return inner.isEmpty ? [] : inner.split(separator: ",").map(String.init)
    }

}

extension PostgresResult {
    /// The first row, or NOT_FOUND: a missing row and another identity's row look the same.
    func one(_ what: String) throws(RPCError) -> PostgresRow {
        guard let row = first else { throw RPCError.notFound("\(what) not found") }
        return row
    }
}

/// `text[]` parameter for a list of simple words or UUIDs (`{a,b}`).
func sqlArray(_ values: [String]) -> String {
    "{" + values.joined(separator: ",") + "}"
}
