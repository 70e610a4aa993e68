/// One event of a `text/event-stream` body.
public struct ServerSentEvent: Sendable, Hashable {
    /// The `event:` field; "message" when absent.
    public var event: String
    /// The `data:` lines joined with "\n".
    public var data: String
    public init(event: String = "message", data: String) {
        self.event = event
        self.data = data
    }
}

/// Incremental parser for the server-sent events format (WHATWG HTML §9.2.6): feed it body
/// chunks as they arrive, in any split, and it returns the events completed so far. Works on
/// bytes so a multi-byte UTF-8 character split across chunks is never decoded half-way.
public struct ServerSentEventParser: Sendable {
    private var buffer: [UInt8] = []
    private var scanFrom = 0
    private var eventName = ""
    private var dataLines: [String] = []
    private var sawData = false
    /// Refuses a single line longer than this (a broken or hostile upstream).
    public let maxLineBytes: Int

    public init(maxLineBytes: Int = 1 << 20) {
        self.maxLineBytes = maxLineBytes
    }

    public struct LineTooLong: Error, Sendable {}

    /// Adds a chunk of the body; returns every event it completed.
    public mutating func feed<Bytes: Sequence>(_ chunk: Bytes) throws(LineTooLong) -> [ServerSentEvent] where Bytes.Element == UInt8 {
        buffer.append(contentsOf: chunk)
        var events: [ServerSentEvent] = []
        var lineStart = 0
        var i = scanFrom
        while i < buffer.count {
            let byte = buffer[i]
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") {
                // A CR at the very end may be the first half of CRLF: wait for the next chunk.
                if byte == UInt8(ascii: "\r") && i + 1 == buffer.count { break }
                if let event = processLine(buffer[lineStart..<i]) { events.append(event) }
                if byte == UInt8(ascii: "\r") && buffer[i + 1] == UInt8(ascii: "\n") { i += 1 }
                lineStart = i + 1
            }
            i += 1
        }
        buffer.removeFirst(lineStart)
        scanFrom = i - lineStart
        guard buffer.count <= maxLineBytes else { throw LineTooLong() }
        return events
    }

    /// The body ended. Per the spec an event without its closing blank line is discarded;
    /// returns whether such an unfinished event (or partial line) was pending.
    public mutating func finish() -> Bool {
        let pending = !buffer.isEmpty || sawData || !eventName.isEmpty
        buffer = []
        scanFrom = 0
        reset()
        return pending
    }

    private mutating func processLine(_ line: ArraySlice<UInt8>) -> ServerSentEvent? {
        if line.isEmpty {
            defer { reset() }
            guard sawData else { return nil }
            return ServerSentEvent(event: eventName.isEmpty ? "message" : eventName, data: dataLines.joined(separator: "\n"))
        }
        if line.first == UInt8(ascii: ":") { return nil }  // comment / keep-alive
        let field: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        } else {
            field = line
            value = []
        }
        switch String(decoding: field, as: UTF8.self) {
        case "event": eventName = String(decoding: value, as: UTF8.self)
        case "data":
            dataLines.append(String(decoding: value, as: UTF8.self))
            sawData = true
        default: break  // id, retry and unknown fields do not matter to LOACL
        }
        return nil
    }

    private mutating func reset() {
        eventName = ""
        dataLines = []
        sawData = false
    }
}
