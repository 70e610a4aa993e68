import LOACLCore
import LOACLMessages
import LOACLWire
import NIOCore

// The connection's end: protocol errors, GOAWAY and draining, the handshake deadline, peers that
// stop reading, and the one timer that drives `ConnectionLiveness`.
extension ServerConnectionHandler {
    func connectionError(_ code: StatusCode, _ reason: String) {
        guard !closing, let context else { return }
        logger.info("protocol violation; closing connection", metadata: ["peer": "\(peer.address)", "reason": "\(reason)"])
        sendGoAway(code, reason)
        core.flushIfNeeded()
        closing = true
        context.close(promise: nil)
    }

    func sendGoAway(_ code: StatusCode, _ reason: String) {
        var goAway = Loacl_Wire_V1_GoAway()
        goAway.lastStreamID = highestStreamID
        goAway.code = code.rawValue
        goAway.reason = reason
        var buffer = context.channel.allocator.buffer(capacity: 64)
        buffer.writeFrame(type: .goAway, streamID: 0, message: goAway)
        write(buffer)
    }

    func startDraining(reason: String) {
        guard !draining, !closing else { return }
        draining = true
        sendGoAway(.ok, reason)
        core.flushIfNeeded()
        closeIfDrained()
    }

    func closeIfDrained() {
        guard draining, streams.isEmpty, !closing, let context else { return }
        closing = true
        core.flushIfNeeded()
        context.close(promise: nil)
    }

    func handshakeTimedOut() {
        guard handshakeTimer != nil, !closing, let context else { return }
        logger.info("connection preface not received in time; closing connection",
                    metadata: ["peer": "\(peer.address)", "timeout": "\(configuration.handshakeTimeout)"])
        closing = true
        context.close(promise: nil)
    }

    /// Bounds what a peer that sends but never reads makes the server queue (replies to its
    /// PINGs, CANCELs' TRAILERS, ...): checked after every read burst.
    func closeIfPeerStopsReading() {
        guard !closing, let context, let options = context.channel.syncOptions,
              let queued = try? options.getOption(.bufferedWritableBytes),
              queued > configuration.maxOutboundBuffer
        else { return }
        logger.info("peer does not read; closing connection",
                    metadata: ["peer": "\(peer.address)", "queued": "\(queued)", "limit": "\(configuration.maxOutboundBuffer)"])
        closing = true
        context.close(promise: nil)
    }

    func armTimer() {
        guard let context, !closing else { return }
        timer?.cancel()
        let deadline = liveness.nextDeadline(now: .now(), hasCalls: !streams.isEmpty)
        timerDeadline = deadline
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(deadline: deadline) { bound.value.timerFired() }
    }

    func timerFired() {
        timer = nil
        timerDeadline = nil
        checkTimers()
        armTimer()
    }

    func checkTimers() {
        guard !closing, context != nil else { return }
        switch liveness.check(now: .now(), hasCalls: !streams.isEmpty) {
        case .none:
            break
        case .closeUnanswered:
            logger.info("keepalive PING not answered; closing connection", metadata: ["peer": "\(peer.address)"])
            closing = true
            context.close(promise: nil)
        case .closeIdle:
            sendGoAway(.ok, "idle")
            core.flushIfNeeded()
            draining = true
            closeIfDrained()
        case .sendPing(let now):
            var ping = context.channel.allocator.buffer(capacity: WireProtocol.headerSize + 8)
            ping.writeFrameHeader(length: 8, type: .ping, flags: [], streamID: 0)
            ping.writeInteger(UInt64(now.uptimeNanoseconds))
            write(ping)
        }
    }
}
