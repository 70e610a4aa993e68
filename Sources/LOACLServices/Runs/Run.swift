import LOACLMessages
import Synchronization

/// A run this server is generating: its event log (a bounded window of the newest events; older
/// ones are re-read from PostgreSQL), its local followers, and how to stop it.
///
/// One producer (the run's driver task) appends events; any number of followers read them at
/// their own pace, so a slow follower holds nothing back but its own call. Thread-safe through
/// one `Mutex`; waiting followers are resumed outside the lock.
final class Run: Sendable {
    typealias Event = Loacl_V1_SendMessageEvent

    /// Why a run is being stopped early.
    enum StopReason: Sendable, Equatable {
        /// CancelRun, or the caller left with `cancel_on_disconnect`.
        case cancelled
        /// The server is shutting down and the grace period ran out.
        case shutdown
    }

    let id: String
    let threadID: String
    let channel: String
    let windowCapacity: Int
    private let state: Mutex<State>

    private struct State {
        /// Events with sequence numbers `windowStart ..< windowStart + window.count`.
        var window: [Event] = []
        var windowStart: UInt64 = 1
        var lastSequence: UInt64 = 0
        /// Events up to here are in `loacl.run_events` (or on their way: taken by a flush).
        var taken: UInt64 = 0
        var persisted: UInt64 = 0
        var ended = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiterID: UInt64 = 0
        var followers = 0
        var stopReason: StopReason?
        var stop: (@Sendable () -> Void)?
        /// Until when another server follows this run (publish live events for it): each
        /// announcement (`ServerSignal.follow`, repeated by followers every few seconds) extends it.
        var remoteFollowersUntil: ContinuousClock.Instant?
        var endWaiters: [CheckedContinuation<Void, Never>] = []
        /// Called with every event appended (the engine publishes it to other servers).
        var observer: (@Sendable (Event) -> Void)?
        /// Tool outputs were submitted for the step the driver waits on (or is about to).
        var outputsSubmitted = false
        var outputsWaiter: CheckedContinuation<Bool, Never>?
    }

    init(id: String, threadID: String, windowCapacity: Int = 512) {
        self.id = id
        self.threadID = threadID
        self.channel = RunNotification.channel(runID: id)
        self.windowCapacity = max(16, windowCapacity)
        self.state = Mutex(State())
    }

    // MARK: - Producer side

    /// Appends the event made by `make` with the next sequence number (and this run's id), wakes
    /// the followers, and returns it.
    @discardableResult
    func append(_ make: (inout Event) -> Void) -> Event {
        var event = Event()
        make(&event)
        event.runID = id
        let (stored, waiters, observer) = state.withLock { state -> (Event, [CheckedContinuation<Void, Never>], (@Sendable (Event) -> Void)?) in
            state.lastSequence += 1
            event.sequenceNumber = state.lastSequence
            state.window.append(event)
            // Only persisted events leave the window: a follower can always find an event here
            // or in PostgreSQL.
            while state.window.count > windowCapacity, state.windowStart <= state.persisted {
                state.window.removeFirst()
                state.windowStart += 1
            }
            if event.endsRun { state.ended = true }
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return (event, waiters, state.observer)
        }
        for waiter in waiters { waiter.resume() }
        observer?(stored)
        if stored.endsRun {
            let enders = state.withLock { state in
                defer { state.endWaiters.removeAll() }
                return state.endWaiters
            }
            for waiter in enders { waiter.resume() }
        }
        return stored
    }

    /// An event with the next sequence number, not appended yet: for the final event, which is
    /// persisted before followers see it. Only the driver appends, so the number holds.
    func makeNext(_ make: (inout Event) -> Void) -> Event {
        var event = Event()
        make(&event)
        event.runID = id
        event.sequenceNumber = state.withLock { $0.lastSequence + 1 }
        return event
    }

    /// Appends an event made by `makeNext` that is persisted already (with everything before it).
    func appendPersisted(_ event: Event) {
        let sequence = event.sequenceNumber
        append { $0 = event }
        state.withLock { state in
            state.taken = max(state.taken, sequence)
            state.persisted = max(state.persisted, sequence)
        }
    }

    /// The events not yet taken for persisting, marked taken (nil when there are none).
    func takeUnpersisted() -> [Event]? {
        state.withLock { state in
            guard state.taken < state.lastSequence else { return nil }
            let from = Int(state.taken + 1 - state.windowStart)
            state.taken = state.lastSequence
            return Array(state.window[from...])
        }
    }

    /// A flush of `events` failed: take them again next time (the flusher is the only taker
    /// while it runs, so nothing after them was taken).
    func untake(_ events: [Event]) {
        guard let first = events.first?.sequenceNumber else { return }
        state.withLock { state in state.taken = min(state.taken, first - 1) }
    }

    func markPersisted(through sequence: UInt64) {
        state.withLock { state in state.persisted = max(state.persisted, sequence) }
    }

    var lastSequence: UInt64 { state.withLock { $0.lastSequence } }

    /// The status of the final event, once appended.
    var finalStatus: Loacl_V1_RunStatus? {
        state.withLock { state in
            guard state.ended, case .run(let run)? = state.window.last?.event else { return nil }
            return run.status
        }
    }
    var isEnded: Bool { state.withLock { $0.ended } }

    /// Installs the observer of appended events (one; the engine's).
    func observe(_ observer: @escaping @Sendable (Event) -> Void) {
        state.withLock { $0.observer = observer }
    }

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

    // MARK: - Followers

    enum Read {
        /// The next events, in order.
        case events([Event])
        /// `next` left the window: read up to `before` from PostgreSQL (all persisted).
        case persisted(before: UInt64)
        /// Nothing new yet.
        case wait
        /// The run ended and the follower has everything.
        case end
    }

    /// What a follower whose next sequence number is `next` gets now (at most `limit` events).
    func read(from next: UInt64, limit: Int = 256) -> Read {
        state.withLock { state in
            if next < state.windowStart { return .persisted(before: state.windowStart) }
            if next <= state.lastSequence {
                let from = Int(next - state.windowStart)
                let to = min(state.window.count, from + limit)
                return .events(Array(state.window[from..<to]))
            }
            return state.ended ? .end : .wait
        }
    }

    /// Waits until an event after `sequence` exists or the run ended, or the task is cancelled.
    func waitForEvent(after sequence: UInt64) async {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.lastSequence > sequence || state.ended || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Counts a follower in; false when `limit` followers already follow.
    func addFollower(limit: Int) -> Bool {
        state.withLock { state in
            guard state.followers < limit else { return false }
            state.followers += 1
            return true
        }
    }

    func removeFollower() {
        state.withLock { state in state.followers -= 1 }
    }
}
