import CLibPQ
import Glibc
import Logging
import Synchronization

/// PostgreSQL `LISTEN`/`NOTIFY` on one dedicated connection with a thread of its own.
///
/// The thread waits in `poll(2)` on the connection's socket and on a wake-up pipe, reads
/// notifications as they arrive (`PQconsumeInput` / `PQnotifies`) and hands each to `deliver`
/// on that thread (keep it short: hand the payload on, do not block). `listen`/`unlisten` queue
/// a command and wake the thread; `listen` returns once the server confirmed the `LISTEN`, so a
/// notification sent after it returns is delivered.
///
/// A broken connection is reopened (with backoff) and every channel listened to again; then
/// `resubscribed` is called, because notifications sent while the connection was down are
/// lost: whoever relies on them must re-read what they announce.
public final class PostgresListener: Sendable {
    public typealias Delivery = @Sendable (_ channel: String, _ payload: String) -> Void

    private let conninfo: String
    private let deliver: Delivery
    private let resubscribed: @Sendable () -> Void
    private let logger: Logger
    private let state = Mutex(State())
    /// Wake-up pipe: [read end, write end].
    private let wake: (Int32, Int32)

    private struct Command: Sendable {
        enum Kind: Sendable { case listen, unlisten }
        var id: UInt64 = 0
        var kind: Kind
        var channel: String
        var done: CheckedContinuation<Void, any Error>?
    }

    private struct State: Sendable {
        var commands: [Command] = []
        /// Channels listened to (re-listened after a reconnect).
        var channels: Set<String> = []
        var closed = false
        var started = false
        var nextCommandID: UInt64 = 0
    }

    /// - Parameters:
    ///   - deliver: called on the listener's thread for every notification.
    ///   - resubscribed: called on the listener's thread after the connection was lost and
    ///     reopened with every channel listened to again.
    public init(conninfo: String, logger: Logger = Logger(label: "loacl.postgres.listener"),
                resubscribed: @escaping @Sendable () -> Void = {}, deliver: @escaping Delivery) {
        self.conninfo = conninfo
        self.deliver = deliver
        self.resubscribed = resubscribed
        self.logger = logger
        var fds: [Int32] = [0, 0]
        if pipe(&fds) != 0 { fds = [-1, -1] }
        for fd in fds where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        wake = (fds[0], fds[1])
    }

    deinit {
        if wake.0 >= 0 { Glibc.close(wake.0) }
        if wake.1 >= 0 { Glibc.close(wake.1) }
    }

    /// Starts listening on `channel` (a plain identifier: letters, digits, `_`); returns once the
    /// server confirmed (which waits for the database while it is unreachable; cancel the
    /// calling task to stop waiting). Starts the listener's thread on first use.
    public func listen(_ channel: String) async throws {
        precondition(channel.utf8.allSatisfy { $0 == UInt8(ascii: "_") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) },
                     "channel names are plain identifiers")
        let id = state.withLock { state in
            state.nextCommandID += 1
            return state.nextCommandID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let refusal: (any Error)? = state.withLock { state in
                    if state.closed { return PostgresError(kind: .poolClosed, message: "listener closed") }
                    if Task.isCancelled { return CancellationError() }
                    state.commands.append(Command(id: id, kind: .listen, channel: channel, done: continuation))
                    return nil
                }
                if let refusal {
                    continuation.resume(throwing: refusal)
                    return
                }
                startIfNeeded()
                poke()
            }
        } onCancel: {
            // Still queued: withdraw it (once the thread took it, it completes on its own).
            let withdrawn = state.withLock { state -> Command? in
                guard let index = state.commands.firstIndex(where: { $0.id == id }) else { return nil }
                return state.commands.remove(at: index)
            }
            withdrawn?.done?.resume(throwing: CancellationError())
        }
    }

    /// Stops listening on `channel` (does not wait).
    public func unlisten(_ channel: String) {
        state.withLock { state in
            guard !state.closed else { return }
            state.commands.append(Command(kind: .unlisten, channel: channel, done: nil))
        }
        poke()
    }

    /// Closes the connection and ends the thread; pending `listen` calls fail.
    public func close() {
        let pending = state.withLock { state -> [Command] in
            state.closed = true
            defer { state.commands.removeAll() }
            return state.commands
        }
        for command in pending {
            command.done?.resume(throwing: PostgresError(kind: .poolClosed, message: "listener closed"))
        }
        poke()
    }

    private func poke() {
        var byte: UInt8 = 1
        _ = Glibc.write(wake.1, &byte, 1)
    }

    private func startIfNeeded() {
        let start = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard start else { return }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(self)
        let created = pthread_create(&thread, nil, { raw in
            let listener = Unmanaged<PostgresListener>.fromOpaque(raw!).takeRetainedValue()
            listener.runLoop()
            return nil
        }, box.toOpaque())
        if created == 0 {
            pthread_detach(thread)
        } else {
            box.release()
            logger.error("could not start the listener thread", metadata: ["errno": "\(created)"])
        }
    }

    // MARK: - The listener's thread

    private func runLoop() {
        var backoff = 0.05
        var connectedOnce = false
        while !state.withLock({ $0.closed }) {
            let opened = PQconnectdb(conninfo)
            guard let conn = opened, PQstatus(conn) == CONNECTION_OK else {
                if let opened { PQfinish(opened) }
                logger.warning("listener cannot connect; retrying", metadata: ["in_s": "\(backoff)"])
                sleepOrWake(seconds: backoff)
                backoff = min(backoff * 2, 2)
                failPendingIfClosed()
                continue
            }
            PQsetNoticeProcessor(conn, { _, _ in }, nil)
            backoff = 0.05
            // Listen again to everything known (after a reconnect).
            let known = state.withLock { $0.channels }
            var ok = true
            for channel in known where !exec(conn, "LISTEN \"\(channel)\"") { ok = false; break }
            if ok, connectedOnce { resubscribed() }
            connectedOnce = true
            if ok { serve(conn) }
            PQfinish(conn)
        }
        failPendingIfClosed()
    }

    /// Runs commands and reads notifications until the connection breaks or the listener closes.
    private func serve(_ conn: OpaquePointer) {
        let socket = PQsocket(conn)
        while true {
            let (commands, closed) = state.withLock { state -> ([Command], Bool) in
                defer { state.commands.removeAll() }
                return (state.commands, state.closed)
            }
            if closed { return }
            for (index, command) in commands.enumerated() {
                let sql = command.kind == .listen ? "LISTEN \"\(command.channel)\"" : "UNLISTEN \"\(command.channel)\""
                if exec(conn, sql) {
                    state.withLock { state in
                        if command.kind == .listen { state.channels.insert(command.channel) } else { state.channels.remove(command.channel) }
                    }
                    command.done?.resume()
                } else {
                    // Keep this and the rest for the next connection.
                    state.withLock { $0.commands.insert(contentsOf: commands[index...], at: 0) }
                    return
                }
            }
            drainNotifications(conn)
            var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.0, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, 1000)
            if ready < 0, errno != EINTR { return }
            if fds[1].revents != 0 { drainWakePipe() }
            if fds[0].revents != 0 {
                if PQconsumeInput(conn) == 0 || PQstatus(conn) != CONNECTION_OK {
                    logger.warning("listener connection lost; reconnecting",
                                   metadata: ["error": "\(String(cString: PQerrorMessage(conn)))"])
                    return
                }
                drainNotifications(conn)
            }
        }
    }

    private func drainNotifications(_ conn: OpaquePointer) {
        while let notify = PQnotifies(conn) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            PQfreemem(notify)
            deliver(channel, payload)
        }
    }

    private func exec(_ conn: OpaquePointer, _ sql: String) -> Bool {
        guard let result = PQexec(conn, sql) else { return false }
        defer { PQclear(result) }
        let ok = PQresultStatus(result) == PGRES_COMMAND_OK
        if !ok {
            logger.warning("listener command failed", metadata: ["sql": "\(sql)", "error": "\(String(cString: PQerrorMessage(conn)))"])
        }
        return ok
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while Glibc.read(wake.0, &buffer, buffer.count) > 0 {}
    }

    private func sleepOrWake(seconds: Double) {
        var fds = [pollfd(fd: wake.0, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 1, Int32(seconds * 1000))
        drainWakePipe()
    }

    private func failPendingIfClosed() {
        let pending = state.withLock { state -> [Command] in
            guard state.closed else { return [] }
            defer { state.commands.removeAll() }
            return state.commands
        }
        for command in pending {
            command.done?.resume(throwing: PostgresError(kind: .poolClosed, message: "listener closed"))
        }
    }
}
