import Foundation
import LOACLWire
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The inbox a streaming call reads its peer's messages from: readers on any thread take
/// buffered messages directly, and flow-control credit is always handed over on the event loop.
@Suite("Message inbox", .timeLimit(.minutes(1)))
struct MessageInboxTests {
    /// An inbox on its own event loop that records the credit it hands over.
    final class Rig: Sendable {
        final class Credits: Sendable {
            let list = Mutex<[Int]>([])
            let offLoop = Mutex(false)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var loop: any EventLoop { group.next() }
        let recorded = Credits()
        let inbox: MessageInbox

        init() {
            let recorded = self.recorded
            let loop = group.next()
            inbox = MessageInbox { n in
                if !loop.inEventLoop { recorded.offLoop.withLock { $0 = true } }
                recorded.list.withLock { $0.append(n) }
            }
        }

        /// Runs `body` on the loop and waits for it.
        func onLoop(_ body: @escaping @Sendable (MessageInbox) -> Void) async throws {
            let inbox = self.inbox
            try await loop.submit { body(inbox) }.get()
        }

        /// Credit handed over so far (after the loop ran what was queued before this call).
        func creditSoFar() async throws -> [Int] {
            try await loop.submit {}.get()
            return recorded.list.withLock { $0 }
        }

        func shutdown() async throws { try await group.shutdownGracefully() }
    }

    static func payload(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("a reader off the loop takes buffered messages in order; their credit reaches the loop")
    func bufferedMessagesInOrder() async throws {
        let rig = Rig()
        try await rig.onLoop { inbox in
            for i in 0..<50 { inbox.push(Self.payload("message \(i)")) }
            inbox.end()
        }
        var texts: [String] = []
        while let message = try await rig.inbox.next(on: rig.loop) {
            texts.append(String(buffer: message))
        }
        #expect(texts == (0..<50).map { "message \($0)" })
        let total = texts.reduce(0) { $0 + $1.utf8.count }
        #expect(try await rig.creditSoFar().reduce(0, +) == total)
        #expect(rig.recorded.offLoop.withLock { $0 } == false)
        try await rig.shutdown()
    }

    @Test("credit for messages taken while the loop is busy goes back in one handover")
    func creditIsBatchedForABurst() async throws {
        let rig = Rig()
        try await rig.onLoop { inbox in
            for i in 0..<20 { inbox.push(Self.payload("m\(i)")) }
        }
        // Hold the loop while the reader takes all twenty: their credit waits for it.
        let release = DispatchSemaphore(value: 0)
        let held = rig.loop.submit { release.wait() }
        var taken = 0
        for _ in 0..<20 {
            _ = try #require(try await rig.inbox.next(on: rig.loop))
            taken += 1
        }
        #expect(rig.recorded.list.withLock { $0 }.isEmpty)
        release.signal()
        try await held.get()
        let credits = try await rig.creditSoFar()
        #expect(credits == [(0..<20).reduce(0) { $0 + "m\($1)".utf8.count }])
        try await rig.shutdown()
    }

    @Test("a reader on the loop hands credit over at once")
    func readerOnTheLoop() async throws {
        let rig = Rig()
        try await rig.onLoop { $0.push(Self.payload("hello")) }
        let loop = rig.loop
        let inbox = rig.inbox
        let creditSeen = try await Task(executorPreference: EventLoopTaskExecutor(loop)) { () throws -> Int in
            precondition(loop.inEventLoop)
            _ = try await inbox.next(on: loop)
            return rig.recorded.list.withLock { $0.reduce(0, +) }
        }.value
        #expect(creditSeen == 5)
        try await rig.shutdown()
    }

    @Test("a waiting reader is resumed by the next message, then by the end")
    func waitingReader() async throws {
        let rig = Rig()
        let reader = Task { () throws -> [String] in
            var texts: [String] = []
            while let message = try await rig.inbox.next(on: rig.loop) { texts.append(String(buffer: message)) }
            return texts
        }
        // Let the reader park first (it may also find the messages already there: same result).
        try await Task.sleep(for: .milliseconds(20))
        try await rig.onLoop { $0.push(Self.payload("one")) }
        try await rig.onLoop { $0.push(Self.payload("two")) }
        try await rig.onLoop { $0.end() }
        #expect(try await reader.value == ["one", "two"])
        #expect(try await rig.creditSoFar().reduce(0, +) == 6)
        try await rig.shutdown()
    }

    @Test("an error after messages comes after them; a failure drops what is buffered")
    func errorsAfterMessagesAndFailures() async throws {
        struct Status: Error, Equatable { let code: Int }
        let rig = Rig()
        try await rig.onLoop { inbox in
            inbox.push(Self.payload("partial reply"))
            inbox.finish(throwing: Status(code: 14))
        }
        #expect(String(buffer: try #require(try await rig.inbox.next(on: rig.loop))) == "partial reply")
        await #expect(throws: Status(code: 14)) { try await rig.inbox.next(on: rig.loop) }

        let other = Rig()
        let dropped = try await other.loop.submit { () -> Int in
            other.inbox.push(Self.payload("12345"))
            other.inbox.push(Self.payload("678"))
            return other.inbox.fail(CancellationError())
        }.get()
        #expect(dropped == 8)
        await #expect(throws: CancellationError.self) { try await other.inbox.next(on: other.loop) }
        #expect(other.inbox.isEnded)
        try await rig.shutdown()
        try await other.shutdown()
    }
}
