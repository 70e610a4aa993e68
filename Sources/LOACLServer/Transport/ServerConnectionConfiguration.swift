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
    /// How often the timers above are checked.
    public var timerResolution: TimeAmount = .seconds(1)
    /// Run handlers on the connection's event loop (fewest thread hops; handlers must not
    /// block) instead of Swift's global concurrent executor.
    public var runHandlersOnEventLoop = true

    public init() {}
}
