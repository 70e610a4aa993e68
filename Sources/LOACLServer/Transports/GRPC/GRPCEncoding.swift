import CompressNIO
import LOACLCore
import NIOCore

/// gRPC message encodings LOACL speaks (grpc/grpc doc/compression.md): `identity` and `gzip`.
/// A call's requests use the encoding its `grpc-encoding` header names; its responses are
/// gzip-compressed when the request was and the client accepts gzip.
enum GRPCEncoding: String, Sendable {
    case identity
    case gzip

    /// What the server accepts (`grpc-accept-encoding`).
    static let accepted = "identity,gzip"

    /// A compressed message's bytes; more than `limit` of them is RESOURCE_EXHAUSTED.
    func decompress(_ message: ByteBuffer, limit: Int) throws(RPCError) -> ByteBuffer {
        guard self == .gzip else { throw RPCError(.internal, "compressed message, but the call's grpc-encoding is identity") }
        var message = message
        do {
            return try message.decompress(with: .gzip(), maxSize: limit)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw RPCError(.resourceExhausted, "decompressed message exceeds the limit of \(limit) bytes")
        } catch {
            throw RPCError(.internal, "compressed message does not decompress (\(rawValue)): \(error)")
        }
    }

    /// `message` gzip-compressed.
    static func gzipped(_ message: ByteBuffer) throws -> ByteBuffer {
        var message = message
        return try message.compress(with: .gzip())
    }
}
