import COpenSSL

/// Reads OpenSSL's per-thread error queue, which every failing call appends to.
enum OpenSSLErrors {
    /// Full error lines ("error:0A000086:SSL routines::certificate verify failed"), oldest first;
    /// empties the queue.
    static func drainLines() -> [String] {
        drain { code in
            var line = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &line, line.count)
            return line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }
    }

    /// Just the reasons ("certificate verify failed") and their numeric codes; empties the queue.
    static func drainReasons() -> [(reason: Int32, text: String)] {
        drain { code in
            let text = ERR_reason_error_string(code).map { String(cString: $0) } ?? "error \(code)"
            return (ERR_GET_REASON(code), text)
        }
    }

    private static func drain<T>(_ transform: (UInt) -> T) -> [T] {
        var out: [T] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { return out }
            out.append(transform(code))
        }
    }

    /// One readable string from the queue, with `fallback` when OpenSSL recorded nothing.
    static func message(fallback: String) -> String {
        let lines = drainLines()
        return lines.isEmpty ? fallback : lines.joined(separator: "; ")
    }
}
