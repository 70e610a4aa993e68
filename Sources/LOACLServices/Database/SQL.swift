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

    /// Keyset-pagination condition `(time, id) > cursor` (`<` when `descending`), the cursor in
    /// the parameters `time` (a timestamptz, see `timestampParameter`) and `id`, both NULL on
    /// the first page (compared against ±infinity then). No `$n IS NULL OR …` and no function
    /// on the parameters: only then is the comparison leakproof and may PostgreSQL use it as an
    /// index condition under the Row Level Security filters, in a generic plan too.
    static func after(_ time: String, _ id: String, time timeParameter: String, id idParameter: String,
                      descending: Bool = false) -> String {
        let (op, edge, edgeID) = descending
            ? ("<", "'infinity'", "'ffffffff-ffff-ffff-ffff-ffffffffffff'")
            : (">", "'-infinity'", "'00000000-0000-0000-0000-000000000000'")
        return "(\(time), \(id)) \(op) (COALESCE(\(timeParameter)::timestamptz, \(edge)::timestamptz), COALESCE(\(idParameter)::uuid, \(edgeID)::uuid))"
    }

    /// Unix microseconds as timestamptz text (`2026-11-25 22:40:01.123456+00`), exact: a page
    /// cursor must compare equal to the row it came from.
    static func timestampParameter(micros: Int64) -> String {
        let (secondsTotal, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
        var seconds = secondsTotal, micro = fraction
        if micro < 0 { micro += 1_000_000; seconds -= 1 }
        var (days, secondOfDay) = seconds.quotientAndRemainder(dividingBy: 86_400)
        if secondOfDay < 0 { secondOfDay += 86_400; days -= 1 }
        // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let yearText = year > 0 ? pad(year, 4) : pad(1 - year, 4)
        return "\(yearText)-\(pad(month, 2))-\(pad(day, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(micro, 6))+00\(year > 0 ? "" : " BC")"
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
