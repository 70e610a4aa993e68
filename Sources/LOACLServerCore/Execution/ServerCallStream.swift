import LOACLCore
import LOACLMessages
import NIOCore

/// A transport's side of one call, as the server core sees it: where the request messages come
/// from, where responses, response metadata and the final status go. Each transport (the LOACL
/// wire, gRPC over HTTP/2) implements it once; methods, interceptors and handlers only ever see
/// this protocol, so a service is written once for every transport.
///
/// Requests and responses are protobuf-encoded message bytes; the transport adds its framing.
public protocol ServerCallStream: AnyObject, Sendable {
    /// The event loop the call's transport state lives on: `finish` is called there.
    var eventLoop: any EventLoop { get }

    /// The one request message of a unary or server-streaming call, complete before the
    /// handler runs.
    func singleRequest() throws -> ByteBuffer

    /// The next request message of a client- or bidirectional-streaming call; nil once the client
    /// has half-closed. Taking a message returns its flow-control credit to the client.
    func nextRequest() async throws -> ByteBuffer?

    /// Sends one response message, waiting while the client's flow-control window is used up.
    func send<M: ProtoMessage>(_ message: M) async throws

    /// Sends one response message of a streaming call now, without waiting: only when called on
    /// `eventLoop` and flow control lets it go at once. False when nothing was sent (then `send`
    /// it); never an error (a closed call says false, and `send` throws).
    func sendNow<M: ProtoMessage>(_ message: M) -> Bool

    /// Sends response metadata; only before the first message, at most once.
    func sendHeaders(_ metadata: Metadata) async throws

    /// Ends the call with `status` (nil = OK) unless it already ended, and cancels whatever of
    /// the call still runs. Called on `eventLoop`.
    func finish(_ status: RPCError?)
}

extension ServerCallStream {
    /// A transport that cannot send without waiting sends nothing here.
    public func sendNow<M: ProtoMessage>(_ message: M) -> Bool { false }
}
