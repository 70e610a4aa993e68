import LOACLServerCore

/// What the gRPC transport adds to a call's `ServerContext` (`transportSpecific`).
public struct GRPCCall: ServerContext.TransportSpecific {
    /// The call's HTTP/2 stream id.
    public let streamID: Int?
}
