import Foundation
import LOACLMessages
import LOACLPostgres
@testable import LOACLServices
import Synchronization
import Testing

// A local follower of a run may take events without being woken (`Run.Handoff`): while it waits,
// the driver offers it each next event and, if the handoff sends it on, the follower goes on
// waiting. Whatever mix of handed-off and woken-up delivery, the follower must see every event
// exactly once and in order, always take the final event itself, and a cancellation that lands
// during a handoff must still wake it. No database: the run's window holds every event.

@Suite("Runs: events handed to a waiting follower", .timeLimit(.minutes(1)))
struct RunHandoffTests {
    typealias Event = Loacl_V1_SendMessageEvent

    /// A run engine whose database is never reached (followers read from the window only).
    static func withEngine(_ body: (RunEngine) async throws -> Void) async throws {
        let pool = PostgresPool(configuration: .init(conninfo: "host=/nonexistent dbname=none", maxConnections: 1))
        let engine = RunEngine(database: Database(pool: pool))
        do { try await body(engine) } catch { engine.close(); await pool.close(); throw error }
        engine.close()
        await pool.close()
    }

    static func waiters(_ run: Run) -> Int { run.state.withLock { $0.waiters.count } }

    /// Until the follower waits (its waiter registered): every append then meets a waiter.
    static func untilWaiting(_ run: Run) async {
        while waiters(run) == 0 { await Task.yield() }
    }

    static func appendDelta(_ run: Run, _ text: String) {
        run.append { event in
            var delta = Loacl_V1_TextDelta()
            delta.text = text
            event.delta = delta
        }
    }

    static func appendFinal(_ run: Run) {
        run.append { event in
            var final = Loacl_V1_Run()
            final.status = .completed
            event.run = final
        }
    }

    @Test("handed-off and woken-up deliveries together give every event once, in order; the final one is emitted")
    func everyEventOnce() async throws {
        try await Self.withEngine { engine in
            let run = Run(id: UUID().uuidString.lowercased(), threadID: UUID().uuidString.lowercased(), windowCapacity: 1024)
            let handed = Mutex<[UInt64]>([])
            // Accepts two events of every three: the third wakes the follower.
            let handoff: Run.Handoff = { event in
                guard event.sequenceNumber % 3 != 0 else { return false }
                handed.withLock { $0.append(event.sequenceNumber) }
                return true
            }
            let follower = Task {
                var emitted: [Event] = []
                try await engine.followLocal(run, after: 0, handoff: handoff) { emitted.append($0) }
                return emitted
            }
            for i in 1...90 {
                await Self.untilWaiting(run)
                Self.appendDelta(run, "\(i)")
            }
            await Self.untilWaiting(run)
            Self.appendFinal(run)
            let emitted = try await follower.value

            let handedOff = handed.withLock { $0 }
            #expect(handedOff == (1...90).filter { $0 % 3 != 0 }.map(UInt64.init))
            #expect(emitted.map(\.sequenceNumber) == (1...91).filter { $0 % 3 == 0 || $0 == 91 }.map(UInt64.init))
            #expect((handedOff + emitted.map(\.sequenceNumber)).sorted() == (1...91).map(UInt64.init))
            #expect(emitted.last?.endsRun == true)
        }
    }

    @Test("a follower whose handoff always refuses gets every event by waking up")
    func refusingHandoff() async throws {
        try await Self.withEngine { engine in
            let run = Run(id: UUID().uuidString.lowercased(), threadID: UUID().uuidString.lowercased())
            let follower = Task {
                var emitted: [UInt64] = []
                try await engine.followLocal(run, after: 0, handoff: { _ in false }) { emitted.append($0.sequenceNumber) }
                return emitted
            }
            for i in 1...20 {
                await Self.untilWaiting(run)
                Self.appendDelta(run, "\(i)")
            }
            Self.appendFinal(run)
            let emitted = try await follower.value
            #expect(emitted == (1...21).map(UInt64.init))
        }
    }

    @Test("cancelled while an event is being handed to it, the follower still wakes and ends")
    func cancelledDuringHandoff() async throws {
        try await Self.withEngine { engine in
            let run = Run(id: UUID().uuidString.lowercased(), threadID: UUID().uuidString.lowercased())
            let entered = Atomic<Bool>(false)
            let release = Atomic<Bool>(false)
            let handoff: Run.Handoff = { _ in
                entered.store(true, ordering: .sequentiallyConsistent)
                while !release.load(ordering: .sequentiallyConsistent) { usleep(1000) }
                return true
            }
            let follower = Task {
                try await engine.followLocal(run, after: 0, handoff: handoff) { _ in }
            }
            await Self.untilWaiting(run)
            let producer = Task.detached { Self.appendDelta(run, "held") }
            while !entered.load(ordering: .sequentiallyConsistent) { await Task.yield() }
            follower.cancel()
            // The cancellation found the waiter mid-handoff; the handoff's end must wake it.
            #expect(Self.waiters(run) == 0)
            release.store(true, ordering: .sequentiallyConsistent)
            await producer.value
            await #expect(throws: CancellationError.self) { try await follower.value }
            #expect(Self.waiters(run) == 0)
        }
    }
}
