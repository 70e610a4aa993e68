@testable import LOACLServer
import NIOCore
import Testing

/// The keepalive / PING-ACK / idle state machine on its own, with made-up clocks.
@Suite("Connection liveness")
struct ConnectionLivenessTests {
    let limits = ConnectionLiveness.Limits(keepaliveInterval: .seconds(30), keepaliveTimeout: .seconds(10),
                                           idleTimeout: .seconds(300), resolution: .seconds(1))
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    @Test("a PING after the keepalive interval without traffic, then closed when it is not answered")
    func unansweredPing() {
        var liveness = ConnectionLiveness(limits: limits, now: start)
        #expect(liveness.nextDeadline(now: start, hasCalls: true) == start + .seconds(30))
        #expect(liveness.check(now: start + .seconds(29), hasCalls: true) == .none)
        #expect(liveness.check(now: start + .seconds(31), hasCalls: true) == .sendPing(start + .seconds(31)))
        // One PING at a time; its deadline is now the ACK's.
        #expect(liveness.check(now: start + .seconds(35), hasCalls: true) == .none)
        #expect(liveness.nextDeadline(now: start + .seconds(35), hasCalls: true) == start + .seconds(41))
        #expect(liveness.check(now: start + .seconds(42), hasCalls: true) == .closeUnanswered)
    }

    @Test("an answered PING and new traffic move the deadlines on")
    func answeredPing() {
        var liveness = ConnectionLiveness(limits: limits, now: start)
        #expect(liveness.check(now: start + .seconds(31), hasCalls: true) == .sendPing(start + .seconds(31)))
        liveness.pingAcknowledged()
        liveness.activity(at: start + .seconds(32))
        #expect(liveness.check(now: start + .seconds(50), hasCalls: true) == .none)
        #expect(liveness.nextDeadline(now: start + .seconds(50), hasCalls: true) == start + .seconds(62))
    }

    @Test("idle closes only a connection without calls, and deadlines are never sooner than the resolution")
    func idle() {
        var liveness = ConnectionLiveness(limits: limits, now: start)
        liveness.activity(at: start)
        // Keep answering PINGs so only idleness is left.
        var now = start
        while now < start + .seconds(301) {
            now = now + .seconds(20)
            if case .sendPing = liveness.check(now: now, hasCalls: true) { liveness.pingAcknowledged() }
        }
        #expect(liveness.check(now: now, hasCalls: true) != .closeIdle)
        #expect(liveness.check(now: now, hasCalls: false) == .closeIdle)
        #expect(liveness.idleDeadline == start + .seconds(300))
        #expect(liveness.nextDeadline(now: now, hasCalls: false) == now + .seconds(1))
    }
}
