#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LOACLMessages
import LOACLTestKeys

/// A plain socket for writing LOACL frames byte by byte exactly as docs/PROTOCOL.md describes
/// them, and reading back what the server sends, with no LOACL code in between.
///
/// Each call is async and never blocks a thread of Swift's cooperative pool (which every test of
/// the process and the servers' async handlers share: two threads on two cores). A call is first
/// made without waiting (MSG_DONTWAIT); only when it would wait (for the peer to send, or to read
/// what was sent) is it made again, blocking, on a thread of its own (`onOwnThread`).
final class RawConnection: Sendable {
    struct Frame: Equatable, CustomStringConvertible {
        var type: UInt8
        var flags: UInt8
        var streamID: UInt32
        var payload: [UInt8]
        var description: String { "Frame(type: \(type), flags: \(flags), stream: \(streamID), \(payload.count) bytes)" }
    }

    private let fd: Int32
    private static let dontWait = Int32(MSG_DONTWAIT)

    /// - Parameter socketBuffers: SO_RCVBUF and SO_SNDBUF, set before connecting (small ones
    ///   make the kernel hold little of what either side sends).
    init(tcpPort: Int, socketBuffers: Int32? = nil) async throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        if var size = socketBuffers {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(tcpPort).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        try await Self.connect(fd, address)
        setTimeout(seconds: 30)
    }

    init(unixPath: String) async throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(unixPath.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        try await Self.connect(fd, address)
        setTimeout(seconds: 30)
    }

    /// Connects with the test's first bytes following at once, as the server's handshake and
    /// keepalive timers (a few hundred ms, from the accept) expect: a loopback connect completes
    /// within microseconds, so that much is waited for here; a longer one (a full backlog) waits
    /// on a thread of its own.
    private static func connect<Address: Sendable>(_ fd: Int32, _ address: Address) async throws {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var result = connectNow(fd, address)
        let error = result == 0 ? 0 : errno
        var inProgress = error == EINPROGRESS // TCP: always, even on loopback
        if inProgress, let done = connected(fd, within: 50) {
            result = done
            inProgress = false
        }
        _ = fcntl(fd, F_SETFL, flags)
        if inProgress {
            result = await onOwnThread { connected(fd, within: 30_000) ?? -1 }
        } else if error == EAGAIN {
            // A Unix socket whose listener's backlog is full: a blocking connect.
            result = await onOwnThread { connectNow(fd, address) }
        }
        guard result == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    /// 0 once the connect under way succeeded, -1 if it failed, nil while it is still under way
    /// after `milliseconds`.
    private static func connected(_ fd: Int32, within milliseconds: Int32) -> Int32? {
        var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&ready, 1, milliseconds) == 1 else { return nil }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error == 0 ? 0 : -1
    }

    private static func connectNow<Address>(_ fd: Int32, _ address: Address) -> Int32 {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
    }

    deinit { close(fd) }

    func setTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// False when the connection failed (e.g. the peer closed it) before every byte went out.
    @discardableResult
    func send(_ bytes: [UInt8]) async -> Bool {
        // What the kernel takes at once; the rest (the peer is not reading) on a thread that waits.
        let sent = Self.send(fd, bytes[...], flags: Self.dontWait)
        guard let sent else { return false }
        if sent == bytes.count { return true }
        let fd = self.fd, rest = bytes[sent...]
        return await onOwnThread { Self.send(fd, rest, flags: 0) == rest.count }
    }

    /// Sends until all of `bytes` went out, the send would wait (`MSG_DONTWAIT`) or failed:
    /// the count sent, nil on failure.
    private static func send(_ fd: Int32, _ bytes: ArraySlice<UInt8>, flags: Int32) -> Int? {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | flags) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && flags & Self.dontWait != 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            if n <= 0 { return nil }
            offset += n
        }
        return offset - bytes.startIndex
    }

    /// One byte per write: checks the server reassembles frames split anywhere.
    func sendByteByByte(_ bytes: [UInt8]) async {
        for b in bytes { await send([b]) }
    }

    /// What one `recv` returns.
    private enum Received: Sendable {
        case bytes([UInt8])
        case wouldWait
        /// EOF, a timeout (SO_RCVTIMEO) or an error; `closedByPeer` on EOF or a reset.
        case end(closedByPeer: Bool)
    }

    private static func receive(_ fd: Int32, upTo count: Int, flags: Int32) -> Received {
        var buffer = [UInt8](repeating: 0, count: count)
        var n: Int
        repeat {
            n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, flags) }
        } while n < 0 && errno == EINTR
        if n > 0 { return .bytes(Array(buffer[..<n])) }
        if n < 0 && flags & Self.dontWait != 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return .wouldWait }
        return .end(closedByPeer: n == 0 || errno == ECONNRESET)
    }

    /// Up to `count` bytes of what has arrived, waiting (up to the read timeout) if nothing has.
    private func receive(upTo count: Int) async -> Received {
        let now = Self.receive(fd, upTo: count, flags: Self.dontWait)
        guard case .wouldWait = now else { return now }
        let fd = self.fd
        return await onOwnThread { Self.receive(fd, upTo: count, flags: 0) }
    }

    /// Exactly `count` bytes, or nil on EOF/timeout.
    func read(_ count: Int) async -> [UInt8]? {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(count)
        while buffer.count < count {
            guard case .bytes(let bytes) = await receive(upTo: count - buffer.count) else { return nil }
            buffer += bytes
        }
        return buffer
    }

    func readFrame() async -> Frame? {
        guard let header = await read(10) else { return nil }
        let length = Int(UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
        let stream = UInt32(header[6]) << 24 | UInt32(header[7]) << 16 | UInt32(header[8]) << 8 | UInt32(header[9])
        guard let payload = length == 0 ? [] : await read(length) else { return nil }
        return Frame(type: header[4], flags: header[5], streamID: stream, payload: payload)
    }

    /// Reads frames until one of `type` for `stream` arrives (skipping WINDOW_UPDATEs etc.).
    func readFrame(type: UInt8, stream: UInt32? = nil) async -> Frame? {
        while let frame = await readFrame() {
            if frame.type == type && (stream == nil || frame.streamID == stream) { return frame }
        }
        return nil
    }

    /// The next GOAWAY (skipping other frames); nil on EOF or timeout.
    func readGoAway() async throws -> Loacl_Wire_V1_GoAway? {
        try await readFrame(type: 7).map { try Loacl_Wire_V1_GoAway(serializedBytes: $0.payload) }
    }

    /// True when the peer closed the connection (EOF) within the read timeout (what arrives
    /// before is skipped).
    func isClosedByPeer() async -> Bool {
        while true {
            switch await receive(upTo: 4096) {
            case .bytes: continue
            case .wouldWait: return false // not returned by a waiting receive
            case .end(let closedByPeer): return closedByPeer
            }
        }
    }

    // MARK: Frame building, by hand

    static let preface = Array("LOACL/1\n".utf8)

    /// Connects over TCP, sends the preface and HEADERS opening `method` on `stream`, and reads
    /// the server's preface (nil if it did not come).
    static func openCall(_ method: String, stream: UInt32, tcpPort: Int) async throws -> RawConnection? {
        let raw = try await RawConnection(tcpPort: tcpPort)
        await raw.send(preface + frame(1, 0, stream, headers(method)))
        return await raw.read(8) == preface ? raw : nil
    }

    static func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
        let n = UInt32(payload.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF), type, flags,
                UInt8(stream >> 24), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)] + payload
    }

    /// CallHeaders with just a method, encoded by hand (field 1, length-delimited).
    static func headers(_ method: String, timeoutMs: UInt64 = 0) -> [UInt8] {
        let m = Array(method.utf8)
        var out: [UInt8] = [0x0A] + varint(UInt64(m.count)) + m
        if timeoutMs > 0 { out += [0x10] + varint(timeoutMs) }
        return out
    }

    /// BenchmarkRequest { payload = bytes } encoded by hand.
    static func benchmarkPayload(_ bytes: [UInt8], responseSize: UInt32 = 0) -> [UInt8] {
        var out: [UInt8] = bytes.isEmpty ? [] : [0x0A] + varint(UInt64(bytes.count)) + bytes
        if responseSize > 0 { out += [0x10] + varint(UInt64(responseSize)) }
        return out
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var v = value
        var out: [UInt8] = []
        repeat {
            var byte = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { byte |= 0x80 }
            out.append(byte)
        } while v != 0
        return out
    }

    static func status(_ frame: Frame) throws -> Loacl_Wire_V1_CallStatus {
        try Loacl_Wire_V1_CallStatus(serializedBytes: frame.payload)
    }
}
