import Dispatch

/// Runs blocking work (libpq set-up, database creation) on a Dispatch thread, not on one of the
/// few threads of Swift's cooperative pool that every test of the process shares.
@discardableResult
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}
