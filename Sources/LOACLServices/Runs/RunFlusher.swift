import LOACLCore
import Logging

/// Writes a streaming run's new events to `loacl.run_events` every `interval`, one INSERT per
/// flush however many deltas arrived, so a run costs at most one write per interval while it
/// streams. The events are in memory and on their way to the client first: a flush never stands
/// between the upstream and the client.
///
/// A crash loses at most the events of the last `interval` (and of a flush in flight).
struct RunFlusher: Sendable {
    let run: Run
    let database: Database
    let interval: Duration
    let logger: Logger

    /// Starts flushing in a task of its own (as the current caller identity).
    func start() -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                // Stopped: what is left goes with the reply's own transaction, not one of its own.
                if Task.isCancelled { break }
                guard let batch = run.takeUnpersisted() else { continue }
                // Not cancelled with the loop: a flush under way completes.
                await Task { await flush(batch) }.value
            }
        }
    }

    /// Stops the loop after any flush under way; the caller persists what is left.
    static func stop(_ task: Task<Void, Never>) async {
        task.cancel()
        await task.value
    }

    private func flush(_ batch: [Run.Event]) async {
        let statements = RunStore.persist(batch, runID: run.id, threadID: run.threadID)
        do {
            try await database.transaction { connection in _ = try connection.commit(after: statements) }
            run.markPersisted(through: batch[batch.count - 1].sequenceNumber)
        } catch {
            run.untake(batch)
            logger.warning("could not persist run events; retrying with the next flush",
                           metadata: ["run": "\(run.id)", "error": "\(error)"])
        }
    }
}
