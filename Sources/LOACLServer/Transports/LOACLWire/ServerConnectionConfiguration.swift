import LOACLWire
import NIOCore

/// Per-connection limits and timers (docs/PROTOCOL.md §8 lists the defaults).
public struct ServerConnectionConfiguration: Sendable {
    /// Largest frame payload accepted.
    public var maxFrameSize = WireProtocol.defaultMaxFrameSize
    /// Initial flow-control window, per stream and per connection (fixed by wire v1).
    public var initialWindow = WireProtocol.defaultInitialWindow
    /// Calls open at once on one connection; more are refused with RESOURCE_EXHAUSTED.
    public var maxConcurrentCalls = 256
    /// Largest encoded CallHeaders accepted.
    public var maxHeadersSize = 16 * 1024
    /// A connection with no open calls and no traffic for this long is closed (GOAWAY "idle").
    public var idleTimeout: TimeAmount = .minutes(5)
    /// Send a keepalive PING after this long without inbound traffic.
    public var keepaliveInterval: TimeAmount = .seconds(30)
    /// Close the connection when a keepalive PING is not answered within this.
    public var keepaliveTimeout: TimeAmount = .seconds(10)
    /// A connection whose preface (after the TLS handshake, on tls: listeners) has not fully
    /// arrived this long after it was accepted is closed: a slow or silent client holds nothing.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Request bytes received on one connection and not yet taken by its handlers (each stream's
    /// window bounds its own; with many calls open they add up): past this, the connection is
    /// closed with GOAWAY RESOURCE_EXHAUSTED.
    public var maxInboundBuffer = 64 * 1024 * 1024
    /// Bytes queued for the socket that the peer has not read yet. Responses stay within the
    /// flow-control windows (at most a window plus one message); replies to the peer's own
    /// frames (PING ACKs, TRAILERS, WINDOW_UPDATEs) are not windowed, so a peer that sends and
    /// never reads is closed once this many bytes wait. Keep it above window + max frame size.
    public var maxOutboundBuffer = 16 * 1024 * 1024
    /// The shortest wait between two checks of the timers above. The connection's one timer is
    /// armed for the next of their deadlines (at least this far ahead), not ticked periodically.
    public var timerResolution: TimeAmount = .seconds(1)
    /// Run handlers on the connection's event loop (fewest thread hops; handlers must not
    /// block) instead of Swift's global concurrent executor.
    public var runHandlersOnEventLoop = true

    public init() {}
}
