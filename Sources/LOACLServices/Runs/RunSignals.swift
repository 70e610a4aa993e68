import LOACLMessages
import Synchronization

// A run's signals from outside its driver: a stop request (CancelRun, a disconnect with
// cancel_on_disconnect, shutdown), submitted tool outputs, and followers on other servers.
extension Run {
    // MARK: - Stopping

    /// Installs what stops the run's driver (cancels its task). A stop requested before is
    /// applied at once.
    func onStop(_ stop: @escaping @Sendable () -> Void) {
        let early = state.withLock { state -> Bool in
            state.stop = stop
            return state.stopReason != nil
        }
        if early { stop() }
    }

    /// Asks the run to stop; the first reason wins. False when it already ended.
    @discardableResult
    func requestStop(_ reason: StopReason) -> Bool {
        let (running, stop) = state.withLock { state -> (Bool, (@Sendable () -> Void)?) in
            guard !state.ended else { return (false, nil) }
            if state.stopReason == nil { state.stopReason = reason }
            return (true, state.stop)
        }
        stop?()
        return running
    }

    var stopReason: StopReason? { state.withLock { $0.stopReason } }

    /// Waits until the final event was appended.
    func waitUntilEnded() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.ended { return true }
                state.endWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    // MARK: - Tool outputs

    /// SubmitToolOutputs stored the outputs of the step this run waits on (here, or on
    /// another server: a `ServerSignal.outputs`).
    func toolOutputsSubmitted() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let waiter = state.outputsWaiter else {
                state.outputsSubmitted = true
                return nil
            }
            state.outputsWaiter = nil
            return waiter
        }
        waiter?.resume(returning: true)
    }

    /// Waits until outputs are submitted (true) or `timeout` passes (false); throws
    /// `CancellationError` when the run is stopped meanwhile.
    func waitForToolOutputs(timeout: Duration) async throws -> Bool {
        let submitted = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.outputsSignal() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        try Task.checkCancellation()
        return submitted
    }

    /// True once outputs are submitted; false when the waiting task is cancelled first.
    private func outputsSignal() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now = state.withLock { state -> Bool? in
                    if state.outputsSubmitted {
                        state.outputsSubmitted = false
                        return true
                    }
                    if Task.isCancelled { return false }
                    state.outputsWaiter = continuation
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                defer { state.outputsWaiter = nil }
                return state.outputsWaiter
            }
            waiter?.resume(returning: false)
        }
    }

    // MARK: - Remote followers

    /// How long one announcement of a follower on another server keeps publishing on.
    static let remoteFollowerLease: Duration = .seconds(15)

    /// Another server announced a follower; true when none was following (publishing starts).
    func remoteFollowerJoined() -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            defer { state.remoteFollowersUntil = now + Self.remoteFollowerLease }
            return state.remoteFollowersUntil.map { $0 < now } ?? true
        }
    }

    /// A follower on another server announced itself within `remoteFollowerLease`.
    var hasRemoteFollowers: Bool {
        state.withLock { state in state.remoteFollowersUntil.map { ContinuousClock.now < $0 } ?? false }
    }

    /// Events after `sequence` still in the window (for a server that just started publishing).
    func windowEvents(after sequence: UInt64) -> [Event] {
        state.withLock { state in
            let from = max(sequence + 1, state.windowStart)
            guard from <= state.lastSequence else { return [] }
            return Array(state.window[Int(from - state.windowStart)...])
        }
    }
}
