import NIOCore

/// A `TaskExecutor` that runs Swift tasks on a NIO event loop.
///
/// Call handlers started with this as their executor preference run on their connection's
/// event loop: a short handler decodes, works and writes its reply without one thread hop, and
/// anything it awaits elsewhere (a database pool thread) resumes back on the loop.
///
/// Jobs enqueued on the loop itself (a task resumed by a message or reply that just arrived: the
/// common case) wait in a queue of the executor's own and run, in order, in one loop task per
/// batch. Handing each job to `EventLoop.execute` cost a closure and NIO's task box: three
/// allocations per resumed task, i.e. per streamed message on each end (bench/RESULTS.md,
/// session 12). Jobs enqueued from other threads still go through `execute`.
public final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    public let eventLoop: any EventLoop
    /// Jobs enqueued on the loop and not run yet; `running` is the batch being run. Both are
    /// touched only on the loop (hence `@unchecked Sendable` and unchecked exclusivity) and
    /// keep their capacity, so a steady flow of jobs allocates nothing.
    @exclusivity(unchecked) private var queued = CircularBuffer<UnownedJob>()
    @exclusivity(unchecked) private var running = CircularBuffer<UnownedJob>()
    @exclusivity(unchecked) private var runScheduled = false

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        guard eventLoop.inEventLoop else {
            return eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
        }
        queued.append(job)
        guard !runScheduled else { return }
        runScheduled = true
        eventLoop.execute { self.runQueued() }
    }

    /// Runs the jobs queued so far. A job enqueued meanwhile waits for the next loop task, so a
    /// task that keeps yielding cannot keep the loop from its I/O.
    private func runQueued() {
        runScheduled = false
        swap(&queued, &running)
        let executor = asUnownedTaskExecutor()
        while let job = running.popFirst() { job.runSynchronously(on: executor) }
    }
}
