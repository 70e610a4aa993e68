import Dispatch

/// Runs blocking work (a child process, libpq set-up) on a Dispatch thread instead of one of the
/// few threads of Swift's cooperative pool. Every test of the process shares that pool (one
/// thread per core: two here); a test that blocks on it stalls every other async test, and
/// under load two blocked tests stalled the whole suite for ≈ 20 s.
@discardableResult
public func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
