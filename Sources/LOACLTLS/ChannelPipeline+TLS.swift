import NIOCore

extension ChannelPipeline.SynchronousOperations {
    /// Puts a server-mode `OpenSSLHandler` at the front of the pipeline. Call it in a
    /// `childChannelInitializer` before adding the handlers that read plaintext.
    /// The returned future completes with the handshake result (or fails with a `TLSError`).
    @discardableResult
    public func addTLSServerHandler(context: TLSContext) throws -> EventLoopFuture<TLSHandshakeCompleted> {
        try addTLSHandler(context: context, mode: .server, serverName: nil)
    }

    /// Puts a client-mode `OpenSSLHandler` at the front of the pipeline. `serverName` (default: the
    /// configuration's) is sent as SNI and checked against the server certificate.
    @discardableResult
    public func addTLSClientHandler(context: TLSContext, serverName: String? = nil) throws -> EventLoopFuture<TLSHandshakeCompleted> {
        try addTLSHandler(context: context, mode: .client, serverName: serverName)
    }

    private func addTLSHandler(context: TLSContext, mode: OpenSSLHandler.Mode,
                               serverName: String?) throws -> EventLoopFuture<TLSHandshakeCompleted> {
        let promise = eventLoop.makePromise(of: TLSHandshakeCompleted.self)
        let handler = OpenSSLHandler(context: context, mode: mode, serverName: serverName, handshakePromise: promise)
        try addHandler(handler, position: .first)
        return promise.futureResult
    }
}
