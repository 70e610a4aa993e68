import LOACLCore
import Logging
import NIOCore

/// Logs every call that fails, with the status the client receives (`ServerContext.status(for:)`),
/// at `notice` (`error` for INTERNAL), and at `debug` every call with its duration. Successful
/// calls cost one clock read at info level.
public struct LoggingInterceptor: ServerInterceptor {
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func intercept(context: ServerContext, next: @Sendable (ServerContext) async throws -> Void) async throws {
        let start = NIODeadline.now()
        do {
            try await next(context)
            if logger.logLevel <= .debug {
                logger.debug("call ok", metadata: metadata(context, start, code: .ok))
            }
        } catch {
            // What the client receives, not what was thrown (a plain error reaches it as INTERNAL).
            let status = context.status(for: error)
            var meta = metadata(context, start, code: status.code)
            meta["message"] = "\(status.message)"
            logger.log(level: status.code == .internal ? .error : .notice, "call failed", metadata: meta)
            throw error
        }
    }

    private func metadata(_ context: ServerContext, _ start: NIODeadline, code: StatusCode) -> Logger.Metadata {
        [
            "method": "\(context.method.path)",
            "code": "\(code.name)",
            "peer": "\(context.peer.transport.rawValue):\(context.peer.address)",
            "ms": "\(Double((NIODeadline.now() - start).nanoseconds) / 1e6)",
        ]
    }
}
