import LOACLServerCore

/// What the LOACL wire adds to a call's `ServerContext` (`transportSpecific`).
public struct LOACLWireCall: ServerContext.TransportSpecific {
    /// The call's stream id on its connection.
    public let streamID: UInt32
}
