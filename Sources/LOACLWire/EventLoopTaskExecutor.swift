import NIOCore

/// A `TaskExecutor` that runs Swift tasks on a NIO event loop.
///
/// Call handlers started with this as their executor preference run on their connection's
/// event loop: a short handler decodes, works and writes its reply without one thread hop, and
/// anything it awaits elsewhere (a database pool thread) resumes back on the loop.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
