import Foundation
import NIOPosix

/// Runs blocking work (a child process, libpq set-up) on a small thread pool of its own instead
/// of one of the few threads of Swift's cooperative pool. Every test of the process shares that
/// pool (one thread per core: two here); a test that blocks on it stalls every other async test,
/// and under load two blocked tests stalled the whole suite for ≈ 20 s. Four threads: enough for
/// the tests that set up at once, few enough that their databases are not all created at the
/// same moment.
@discardableResult
public func offCooperativePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await blockingWork.runIfActive(body)
}

private let blockingWork: NIOThreadPool = {
    let pool = NIOThreadPool(numberOfThreads: 4)
    pool.start()
    return pool
}()

/// Runs a blocking call that waits for something else (a socket read that waits for the peer, a
/// child process, a semaphore) on a thread started for it alone: such waits can last seconds,
/// and must hold neither a thread of the cooperative pool nor one of `offCooperativePool`'s few.
public func onOwnThread<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: Result(catching: body)) }
    }
    return try result.get()
}
