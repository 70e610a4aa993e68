import Synchronization

/// Whether the server has started its graceful shutdown (stopped accepting, draining calls).
/// `RPCServer` sets it; services that report readiness (grpc.health.v1) read it.
public final class ServerDrainState: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    public func startDraining() { draining.store(true, ordering: .relaxed) }
}
