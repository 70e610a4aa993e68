import LOACLCore
import LOACLCrypto

/// Opaque page tokens: base64url of `kind|value|id`. The kind letter ties a token to the list it
/// came from: `t` = a timestamp in Unix microseconds, `p` = an integer (priority), `o` = an offset.
/// Clients must treat tokens as opaque; a token from another list or a damaged one is
/// INVALID_ARGUMENT.
struct PageToken: Sendable, Equatable {
    enum Kind: String, Sendable { case time = "t", priority = "p", offset = "o" }

    var kind: Kind
    var value: Int64
    var id: String

    func encoded() -> String {
        Base64URL.encode("\(kind.rawValue)|\(value)|\(id)".utf8)
    }

    /// nil for the empty token (first page).
    static func decode(_ text: String, expecting kind: Kind, _ field: String = "page_token") throws(RPCError) -> PageToken? {
        guard !text.isEmpty else { return nil }
        guard text.utf8.count <= 200, let bytes = Base64URL.decode(text) else {
            throw RPCError.invalidArgument("\(field) is not a valid page token")
        }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == kind.rawValue, let value = Int64(parts[1]) else {
            throw RPCError.invalidArgument("\(field) is not a valid page token for this list")
        }
        let id = String(parts[2])
        if kind == .offset {
            // Offset tokens carry no id (`o|offset|`); one with an id was not made here.
            guard id.isEmpty else { throw RPCError.invalidArgument("\(field) is not a valid page token for this list") }
        } else {
            _ = try Validate.uuid(id, field)
        }
        return PageToken(kind: kind, value: value, id: id)
    }
}

/// Cuts a result fetched with `LIMIT pageSize + 1` down to one page and makes the next token
/// from the last row kept.
func paginate<Row>(_ rows: [Row], pageSize: Int, token: (Row) -> PageToken) -> (page: [Row], next: String) {
    guard rows.count > pageSize else { return (rows, "") }
    let page = Array(rows.prefix(pageSize))
    return (page, token(page[page.count - 1]).encoded())
}
