@_exported import LOACLCore
@_exported import LOACLMessages
@_exported import LOACLTLS
import NIOCore

/// How a client reaches a LOACL server and how it behaves when the connection drops.
public struct ClientConfiguration: Sendable {
    /// `unix:/path`, `tcp:host:port` or `tls:host:port`.
    public var endpoint: Endpoint
    /// TLS settings for `tls:` endpoints (CA file, client certificate, server name); nil uses
    /// the system's CA store and the endpoint's host name.
    public var tls: TLSConfiguration?
    /// Gives up a connection attempt after this long.
    public var connectTimeout: TimeAmount = .seconds(5)
    /// Reconnect backoff after a failed attempt: first delay, growth factor and ceiling.
    public var reconnectInitialDelay: TimeAmount = .milliseconds(100)
    public var reconnectMultiplier = 2.0
    public var reconnectMaxDelay: TimeAmount = .seconds(5)
    /// Connection attempts per call before it fails with UNAVAILABLE.
    public var maxConnectAttempts = 5
    /// Largest frame payload accepted from the server.
    public var maxFrameSize = 4 * 1024 * 1024

    public init(endpoint: Endpoint, tls: TLSConfiguration? = nil) {
        self.endpoint = endpoint
        self.tls = tls
    }
}

/// Per-call settings.
public struct CallOptions: Sendable {
    /// Deadline, relative to the start of the call; nil: none.
    public var timeout: Duration?
    /// Request metadata (e.g. `x-loacl-session-token`).
    public var metadata: Metadata

    public init(timeout: Duration? = nil, metadata: Metadata = [:]) {
        self.timeout = timeout
        self.metadata = metadata
    }
}
