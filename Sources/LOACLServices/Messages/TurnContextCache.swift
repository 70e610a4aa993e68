import LOACLUpstream
import Metrics
import Synchronization

/// What this server last read for a thread's turn: the assistant's settings and the thread's
/// newest messages with the thread's `messages_version` (migration 0010). SendMessage uses it
/// twice:
///
/// - **History without a re-read.** The turn's history statement returns the thread's version
///   and, only if it differs from the one held here, the messages; the history held here is
///   exact when the versions match (every message change bumps the version).
/// - **Speculative upstream requests.** The request is started from the held context before the
///   turn's database round trip, so the model's time to first token overlaps the checks and the
///   user message's commit. It is kept only if the request built from the turn's fresh context
///   (read as the caller, under Row Level Security) is identical; otherwise it is cancelled and
///   the real one sent. Nothing reaches the client before the checks passed and the user
///   message committed. Assistants with quotas never speculate: a refused turn must not reach
///   the upstream at all.
///
/// Entries are dropped after `lifetime` and when a turn of the thread fails.
final class TurnContextCache: Sendable {
    /// One message of the history, as read from `loacl.messages`.
    struct HistoryRow: Sendable, Equatable {
        var role: ChatRole
        var content: String
        var tokens: Int
        /// An assistant message that called functions: the calls.
        var toolCalls: [ChatToolCall] = []
        /// A tool message: the call it answers.
        var toolCallID: String?

        var turn: ChatTurn { ChatTurn(role: role, content: content, toolCalls: toolCalls, toolCallID: toolCallID) }
    }

    /// The assistant's part of a turn's context (read by the turn's first round trip).
    struct AssistantContext: Sendable {
        var settings: AssistantSettings
        var instructions: String
        var guidedQuestions: [String]
        var sealedAPIKey: [UInt8]?
        var keyHash: [UInt8]
    }

    /// A thread's history as of its `messages_version`.
    struct History: Sendable, Equatable {
        /// Newest first: the newest rows a turn reads (before the token budget is applied).
        var rows: [HistoryRow]
        var version: Int64

        var bytes: Int { rows.reduce(0) { $0 + $1.content.utf8.count } }
    }

    private struct ThreadEntry {
        var sessionID: String
        var history: History
        var bytes: Int
        var storedAt: ContinuousClock.Instant
    }

    private struct AssistantEntry {
        var context: AssistantContext
        var storedAt: ContinuousClock.Instant
    }

    private struct State {
        var threads: [String: ThreadEntry] = [:]
        var threadBytes = 0
        var assistants: [String: AssistantEntry] = [:]
    }

    let lifetime: Duration
    /// Threads (and assistants) kept at most.
    let capacity: Int
    /// Message text kept at most, over all threads.
    let maxBytes: Int
    private let state = Mutex(State())

    /// `lifetime` zero: nothing is kept, no turn speculates.
    init(lifetime: Duration, capacity: Int = 2_000, maxBytes: Int = 32 << 20) {
        self.lifetime = lifetime
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    var isEnabled: Bool { lifetime > .zero }

    /// The thread's history as last seen by `sessionID`, if fresh.
    func history(threadID: String, sessionID: String, now: ContinuousClock.Instant = .now) -> History? {
        guard isEnabled else { return nil }
        return state.withLock { state in
            guard let thread = state.threads[threadID], thread.sessionID == sessionID,
                  now - thread.storedAt < lifetime else { return nil }
            return thread.history
        }
    }

    /// The assistant's context, if fresh and the assistant has no quotas (what a speculative
    /// request needs besides the history).
    func speculationContext(assistantID: String, now: ContinuousClock.Instant = .now) -> AssistantContext? {
        guard isEnabled else { return nil }
        return state.withLock { state in
            guard let assistant = state.assistants[assistantID], now - assistant.storedAt < lifetime,
                  !assistant.context.settings.hasQuotas else { return nil }
            return assistant.context
        }
    }

    /// A thread just created by `sessionID`: no messages, version 0.
    func threadCreated(_ threadID: String, sessionID: String, now: ContinuousClock.Instant = .now) {
        storeThread(threadID, ThreadEntry(sessionID: sessionID, history: History(rows: [], version: 0), bytes: 0, storedAt: now))
    }

    /// A turn completed: `history` is the thread's newest messages, the turn's own included, at
    /// the version the thread has if nobody else wrote to it.
    func turnCompleted(_ threadID: String, sessionID: String, history: History, now: ContinuousClock.Instant = .now) {
        storeThread(threadID, ThreadEntry(sessionID: sessionID, history: history, bytes: history.bytes, storedAt: now))
    }

    /// The assistant's context as a turn just read it.
    func assistantRead(_ assistantID: String, _ context: AssistantContext, now: ContinuousClock.Instant = .now) {
        guard isEnabled else { return }
        state.withLock { state in
            if state.assistants.count >= capacity, state.assistants[assistantID] == nil { state.assistants.removeAll(keepingCapacity: true) }
            state.assistants[assistantID] = AssistantEntry(context: context, storedAt: now)
        }
    }

    /// A turn of the thread failed, or its cached history proved wrong.
    func forget(threadID: String) {
        state.withLock { state in
            if let old = state.threads.removeValue(forKey: threadID) { state.threadBytes -= old.bytes }
        }
    }

    var threadCount: Int { state.withLock { $0.threads.count } }

    /// How speculative requests ended: kept (the turn's context was as guessed) or dropped.
    /// Also counted in `loacl_reply_speculations_total{outcome}`.
    let kept = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    private let keptCounter = Counter(label: "loacl_reply_speculations_total", dimensions: [("outcome", "kept")])
    private let droppedCounter = Counter(label: "loacl_reply_speculations_total", dimensions: [("outcome", "dropped")])

    func speculation(kept wasKept: Bool) {
        if wasKept {
            kept.add(1, ordering: .relaxed)
            keptCounter.increment()
        } else {
            dropped.add(1, ordering: .relaxed)
            droppedCounter.increment()
        }
    }

    private func storeThread(_ threadID: String, _ entry: ThreadEntry) {
        guard isEnabled else { return }
        state.withLock { state in
            if let old = state.threads.removeValue(forKey: threadID) { state.threadBytes -= old.bytes }
            guard entry.bytes <= maxBytes / 16 else { return } // one huge thread does not evict the rest
            if state.threads.count >= capacity || state.threadBytes + entry.bytes > maxBytes {
                // Full: drop the stale entries, or everything if that is not enough.
                state.threads = state.threads.filter { entry.storedAt - $0.value.storedAt < lifetime }
                state.threadBytes = state.threads.values.reduce(0) { $0 + $1.bytes }
                if state.threads.count >= capacity || state.threadBytes + entry.bytes > maxBytes {
                    state.threads.removeAll(keepingCapacity: true)
                    state.threadBytes = 0
                }
            }
            state.threads[threadID] = entry
            state.threadBytes += entry.bytes
        }
    }
}
