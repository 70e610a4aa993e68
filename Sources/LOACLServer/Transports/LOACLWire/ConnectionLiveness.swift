import NIOCore

/// When a LOACL connection pings its peer, gives up on it, or closes for idleness: the
/// keepalive / PING-ACK / idle deadlines as a state machine without I/O. The connection handler
/// feeds it inbound activity and PING-ACKs, arms its one timer for `nextDeadline`, and does
/// what `check` returns when the timer fires.
struct ConnectionLiveness {
    struct Limits {
        /// Send a keepalive PING after this long without inbound traffic.
        var keepaliveInterval: TimeAmount
        /// Close when a keepalive PING is not answered within this.
        var keepaliveTimeout: TimeAmount
        /// Close a connection with no open calls and no traffic for this long.
        var idleTimeout: TimeAmount
        /// Deadlines are never sooner than this from now (activity just moves them on).
        var resolution: TimeAmount
    }

    enum Action: Equatable {
        case none
        /// The keepalive PING went unanswered: close the connection.
        case closeUnanswered
        /// No calls and no traffic for the idle timeout: GOAWAY "idle", then close.
        case closeIdle
        /// Send a keepalive PING carrying this time.
        case sendPing(NIODeadline)
    }

    let limits: Limits
    private(set) var lastActivity: NIODeadline
    /// When the keepalive PING now waiting for its ACK was sent.
    private(set) var pingSentAt: NIODeadline?

    init(limits: Limits, now: NIODeadline) {
        self.limits = limits
        self.lastActivity = now
    }

    /// Something arrived from the peer.
    mutating func activity(at now: NIODeadline) { lastActivity = now }

    /// The peer answered our PING.
    mutating func pingAcknowledged() { pingSentAt = nil }

    /// When `check` has something to do next: the PING-ACK deadline while a PING is out, else the
    /// keepalive deadline, and the idle deadline while no call is open; never sooner than
    /// `resolution` from now.
    func nextDeadline(now: NIODeadline, hasCalls: Bool) -> NIODeadline {
        var next = pingSentAt.map { $0 + limits.keepaliveTimeout } ?? lastActivity + limits.keepaliveInterval
        if !hasCalls { next = min(next, idleDeadline) }
        return max(next, now + limits.resolution)
    }

    /// When the connection counts as idle (if it has no calls by then).
    var idleDeadline: NIODeadline { lastActivity + limits.idleTimeout }

    /// What is due at `now`; a PING it asks for counts as sent.
    mutating func check(now: NIODeadline, hasCalls: Bool) -> Action {
        if let sent = pingSentAt, now - sent > limits.keepaliveTimeout { return .closeUnanswered }
        if !hasCalls && now - lastActivity > limits.idleTimeout { return .closeIdle }
        if pingSentAt == nil && now - lastActivity > limits.keepaliveInterval {
            pingSentAt = now
            return .sendPing(now)
        }
        return .none
    }
}
