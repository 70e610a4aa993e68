import NIOCore

/// Limits and timers of `grpc:`, `grpcs:` and `grpc+unix:` connections (docs/GRPC.md).
public struct GRPCConfiguration: Sendable {
    /// Largest request message accepted (its length prefix says), and largest response sent;
    /// a larger one ends the call with RESOURCE_EXHAUSTED.
    public var maxMessageSize = 4 * 1024 * 1024
    /// HTTP/2 streams (calls) open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxConcurrentStreams = 256
    /// Largest request header block (SETTINGS_MAX_HEADER_LIST_SIZE).
    public var maxHeaderListSize = 16 * 1024
    /// Response bytes of one streaming call written and not yet on the socket (the client's
    /// HTTP/2 window or the socket is full) before its handler waits for them.
    public var maxBufferedResponseBytes = 64 * 1024
    /// Flow-control window the server grants each stream and the connection for request bytes.
    public var targetWindowSize = 1024 * 1024
    /// A connection whose first HTTP/2 frame (after the TLS handshake, on grpcs: listeners) has
    /// not arrived this long after it was accepted is closed: a slow or silent client holds nothing.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// A connection with no open streams for this long is closed (GOAWAY).
    public var idleTimeout: TimeAmount? = .minutes(5)
    /// Send a keepalive PING after this long without traffic; close when it is not answered
    /// within `keepaliveTimeout`.
    public var keepaliveInterval: TimeAmount = .seconds(30)
    public var keepaliveTimeout: TimeAmount = .seconds(10)

    public init() {}
}
