import LOACLMessages
import LOACLWire
import Testing

/// Stream credit goes back in batches of a quarter window (docs/PROTOCOL.md §4), not one
/// WINDOW_UPDATE per consumed message.
@Suite("Stream credit batching", .ownThread)
struct StreamCreditTests {
    typealias R = RawConnection

    @Test("FlowWindow.credit returns nothing until a quarter window is owed, then all of it")
    func creditInQuarters() {
        var window = FlowWindow(initial: 1000)
        window.consume(600)
        #expect(window.credit(100) == nil)
        #expect(window.credit(149) == nil)
        #expect(window.available == 400)
        #expect(window.credit(1) == 250)
        #expect(window.available == 650)
        #expect(window.credit(249) == nil)
        #expect(window.credit(101) == 350)
        #expect(window.available == 1000)
    }

    @Test("a bidi call's requests earn one stream WINDOW_UPDATE per quarter window consumed, none per message")
    func serverBatchesStreamCredit() async throws {
        let server = try await TestServer.start()
        defer { Task { await server.stop() } }
        let raw = try #require(try await R.openCall("/loacl.v1.BenchmarkService/StreamingCall", stream: 5, tcpPort: server.tcpPort))
        let message = R.benchmarkPayload([UInt8](repeating: 0x61, count: 16 * 1024))
        let quarter = WireProtocol.defaultInitialWindow / 4
        let firstBatch = (quarter + message.count - 1) / message.count // messages until a quarter is owed
        var updates: [(afterMessage: Int, increment: Int)] = []
        for n in 1...(firstBatch + 3) {
            await raw.send(R.frame(2, 0, 5, message))
            // Frames up to this message's echo: a stream credit comes before the echo of the
            // message that completed a batch (taken, credited, then answered).
            while let frame = await raw.readFrame() {
                if frame.type == 5 && frame.streamID == 5 {
                    let p = frame.payload
                    updates.append((n, Int(p[0]) << 24 | Int(p[1]) << 16 | Int(p[2]) << 8 | Int(p[3])))
                }
                if frame.type == 2 && frame.streamID == 5 { break }
            }
        }
        await raw.send(R.frame(1, 1, 5))
        let trailers5 = try #require(await raw.readFrame(type: 3, stream: 5))
        #expect(try R.status(trailers5).code == 0)
        #expect(updates.count == 1)
        #expect(updates.first?.afterMessage == firstBatch)
        #expect(updates.first?.increment == firstBatch * message.count)
    }
}
