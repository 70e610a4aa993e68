import Foundation
import Testing

/// `@Suite(.ownThread)` / `@Test(.ownThread)`: each test (case) runs on a thread of its own (a
/// task executor preference), not on Swift's cooperative pool.
///
/// For tests that block (waits on sockets) or compute for seconds. The cooperative pool is shared
/// by every test of the process (two threads on two cores, one under `taskset -c 0`): such a test
/// would hold a thread that every other test and the in-process servers' handlers wait for. And
/// the raw-socket tests answer server timers of a few hundred milliseconds (a preface before the
/// handshake timeout, a PING ACK before the keepalive timeout): on the pool, a test resumed after
/// an await can wait seconds for a thread while hundreds of other tests start; on its own thread
/// it runs at once. Blocking there holds no other test back.
public struct OwnThreadTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    /// Each test (case), not the suite as a whole.
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase == nil ? nil : self
    }

    public func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let executor = ThreadTaskExecutor()
        defer { executor.finish() }
        try await withTaskExecutorPreference(executor, operation: function)
    }
}

extension Trait where Self == OwnThreadTrait {
    public static var ownThread: Self { Self() }
}

/// A task executor with one thread of its own. After `finish()` its thread ends once its queue
/// is empty; a job enqueued later (a continuation resumed after the test) gets a thread of its own.
public final class ThreadTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var jobs: [UnownedJob] = []
    private var finished = false

    public init() {
        Thread.detachNewThread { self.run() }
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        guard finished else {
            jobs.append(job)
            condition.signal()
            condition.unlock()
            return
        }
        condition.unlock()
        Thread.detachNewThread { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    public func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished { condition.wait() }
            let batch = jobs
            jobs.removeAll()
            condition.unlock()
            if batch.isEmpty { return } // finished, nothing left
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
