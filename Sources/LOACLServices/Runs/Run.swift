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
    let state: Mutex<State>

    struct State {
        /// Events with sequence numbers `windowStart ..< windowStart + window.count`.
        var window: [Event] = []
        var windowStart: UInt64 = 1
        var lastSequence: UInt64 = 0
        /// Events up to here are in `loacl.run_events` (or on their way: taken by a flush).
        var taken: UInt64 = 0
        var persisted: UInt64 = 0
        var ended = false
        /// Followers waiting for the next event, and those being handed one (`Handoff`) now.
        var waiters: [UInt64: Waiter] = [:]
        var handingOff: [UInt64: Waiter] = [:]
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

    /// A waiting follower's way to take the next event without being woken: true when it sent
    /// the event on (at once, on its own connection's event loop, flow control permitting), and
    /// then it goes on waiting. Saves the follower's task a wake-up per event, so that with the
    /// driver on the caller's event loop a delta reaches the caller as it did before runs.
    typealias Handoff = @Sendable (Event) -> Bool

    struct Waiter {
        var continuation: CheckedContinuation<UInt64, Never>
        /// The follower has every event up to here.
        var after: UInt64
        var handoff: Handoff?
        /// Cancelled while being handed an event: woken once the handoff returns.
        var cancelled = false
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
        let (stored, wake, handoffs, observer) = state.withLock { state -> (Event, [Waiter], [(UInt64, Handoff)], (@Sendable (Event) -> Void)?) in
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
            // The final event always wakes its followers (they end the call with it).
            var wake: [Waiter] = []
            var handoffs: [(UInt64, Handoff)] = []
            for (id, waiter) in state.waiters {
                if let handoff = waiter.handoff, !event.endsRun, waiter.after + 1 == event.sequenceNumber {
                    state.handingOff[id] = waiter
                    handoffs.append((id, handoff))
                } else {
                    wake.append(waiter)
                }
            }
            state.waiters.removeAll()
            return (event, wake, handoffs, state.observer)
        }
        for (id, handoff) in handoffs {
            let sent = handoff(stored)
            let woken = state.withLock { state -> Waiter? in
                guard var waiter = state.handingOff.removeValue(forKey: id) else { return nil }
                if sent { waiter.after = stored.sequenceNumber }
                guard sent, !waiter.cancelled else { return waiter }
                state.waiters[id] = waiter
                return nil
            }
            woken.map { $0.continuation.resume(returning: $0.after) }
        }
        for waiter in wake { waiter.continuation.resume(returning: waiter.after) }
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

    /// Waits until an event after `sequence` exists or the run ended, or the task is cancelled;
    /// meanwhile `handoff` (if any) is offered each next event. Returns the sequence number the
    /// follower has now: `sequence`, or later if events were handed off.
    func waitForEvent(after sequence: UInt64, handoff: Handoff? = nil) async -> UInt64 {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UInt64, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.lastSequence > sequence || state.ended || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(continuation: continuation, after: sequence, handoff: handoff)
                    return false
                }
                if ready { continuation.resume(returning: sequence) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                // Being handed an event: `append` wakes it when the handoff returns.
                state.handingOff[id]?.cancelled = true
                return nil
            }
            waiter.map { $0.continuation.resume(returning: $0.after) }
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
