import LOACLCore
import Logging
import NIOCore

/// Logs every call that fails, with the status the client receives, at `notice` (`error` for
/// INTERNAL), and at `debug` every call with its duration. A successful call logs nothing at
/// info level.
public struct LoggingObserver: ServerCallObserver {
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func callEnded(_ context: ServerContext, status: RPCError?, duration: TimeAmount) {
        guard let status else {
            if logger.logLevel <= .debug {
                logger.debug("call ok", metadata: metadata(context, duration, code: .ok))
            }
            return
        }
        var meta = metadata(context, duration, code: status.code)
        meta["message"] = "\(status.message)"
        logger.log(level: status.code == .internal ? .error : .notice, "call failed", metadata: meta)
    }

    private func metadata(_ context: ServerContext, _ duration: TimeAmount, code: StatusCode) -> Logger.Metadata {
        [
            "method": "\(context.method.path)",
            "code": "\(code.name)",
            "peer": "\(context.peer.transport.rawValue):\(context.peer.address)",
            "ms": "\(Double(duration.nanoseconds) / 1e6)",
        ]
    }
}
