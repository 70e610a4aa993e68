import Foundation
import LOACLMessages

/// A run's events as bytes: how they are persisted (`loacl.run_events.events`) and how they
/// travel in `NOTIFY` payloads to followers on other servers.
///
/// A batch is the events one after another, each as a 4-byte big-endian length followed by the
/// encoded `loacl.v1.SendMessageEvent` (which carries its own sequence number).
enum RunEventCodec {
    typealias Event = Loacl_V1_SendMessageEvent

    static func append(_ event: Event, to bytes: inout [UInt8]) {
        let encoded = event.serializedBytes()
        let count = UInt32(encoded.count)
        bytes.append(contentsOf: [UInt8(count >> 24), UInt8(count >> 16 & 0xFF), UInt8(count >> 8 & 0xFF), UInt8(count & 0xFF)])
        bytes.append(contentsOf: encoded)
    }

    static func encode(_ events: some Sequence<Event>) -> [UInt8] {
        var bytes: [UInt8] = []
        for event in events { append(event, to: &bytes) }
        return bytes
    }

    struct Malformed: Error {}

    static func decode(_ bytes: some Collection<UInt8>) throws -> [Event] {
        let bytes = Array(bytes)
        var events: [Event] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 4 else { throw Malformed() }
            let count = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            offset += 4
            guard bytes.count - offset >= count else { throw Malformed() }
            events.append(try Event(serializedBytes: bytes[offset..<offset + count]))
            offset += count
        }
        return events
    }

    /// The reply text a batch's deltas carry.
    static func text(of events: some Sequence<Event>) -> String {
        var text = ""
        for event in events { if case .delta(let delta)? = event.event { text += delta.text } }
        return text
    }
}

extension Loacl_V1_SendMessageEvent {
    /// True for the event that ends a run: a `run` event with a final status.
    var endsRun: Bool {
        if case .run(let run)? = event { return run.status.isFinal }
        return false
    }
}

extension Loacl_V1_RunStatus {
    /// Completed, incomplete, failed, cancelled or expired.
    var isFinal: Bool { rawValue >= Self.completed.rawValue }

    /// The status as `loacl.runs.status` stores it.
    var sqlName: String {
        switch self {
        case .queued: "queued"
        case .inProgress: "in_progress"
        case .requiresAction: "requires_action"
        case .completed: "completed"
        case .incomplete: "incomplete"
        case .failed: "failed"
        case .cancelled: "cancelled"
        case .expired: "expired"
        default: "in_progress"
        }
    }

    init(sqlName: String) {
        self = switch sqlName {
        case "queued": .queued
        case "in_progress": .inProgress
        case "requires_action": .requiresAction
        case "completed": .completed
        case "incomplete": .incomplete
        case "failed": .failed
        case "cancelled": .cancelled
        case "expired": .expired
        default: .unspecified
        }
    }
}

/// What one `NOTIFY` on a run's channel says (`loacl_run_<id without dashes>`).
///
/// - `E<base64 batch>`: live events, sent by the running server as they happen (only while
///   some server has announced a follower: see `ServerSignal.follow`).
/// - `L<seq>`: event `seq` happened but is too large for a payload: read it once persisted.
/// - `P<seq>`: every event up to `seq` is persisted (sent in the persisting transaction).
enum RunNotification: Equatable {
    case events([UInt8])
    case tooLarge(UInt64)
    case persisted(UInt64)

    /// PostgreSQL's payload limit is 8000 bytes; base64 takes 4 per 3.
    static let maxBatchBytes = 5_600

    var payload: String {
        switch self {
        case .events(let bytes): "E" + Data(bytes).base64EncodedString()
        case .tooLarge(let seq): "L\(seq)"
        case .persisted(let seq): "P\(seq)"
        }
    }

    init?(payload: String) {
        guard let kind = payload.first else { return nil }
        let rest = payload.dropFirst()
        switch kind {
        case "E":
            guard let data = Data(base64Encoded: String(rest)) else { return nil }
            self = .events([UInt8](data))
        case "L":
            guard let seq = UInt64(rest) else { return nil }
            self = .tooLarge(seq)
        case "P":
            guard let seq = UInt64(rest) else { return nil }
            self = .persisted(seq)
        default:
            return nil
        }
    }

    static func channel(runID: String) -> String {
        "loacl_run_" + runID.replacingOccurrences(of: "-", with: "")
    }
}

/// What one `NOTIFY` on a server's own channel (`loacl_srv_<instance key>`) asks of it.
enum ServerSignal: Equatable {
    /// A server has a follower of this run: publish its live events (`RunNotification.events`).
    case follow(runID: String)
    /// Stop this run (CancelRun on another server).
    case cancel(runID: String)
    /// The outputs this run waits for are stored (SubmitToolOutputs; sent in its transaction).
    case outputs(runID: String)

    var payload: String {
        switch self {
        case .follow(let id): "F" + id
        case .cancel(let id): "C" + id
        case .outputs(let id): "O" + id
        }
    }

    init?(payload: String) {
        guard let kind = payload.first else { return nil }
        let id = String(payload.dropFirst())
        guard UUID(uuidString: id) != nil else { return nil }
        switch kind {
        case "F": self = .follow(runID: id)
        case "C": self = .cancel(runID: id)
        case "O": self = .outputs(runID: id)
        default: return nil
        }
    }

    /// The channel of the server whose `server_instance` is `instance` (`host/pid/key`).
    static func channel(instance: String) -> String? {
        guard let key = instance.split(separator: "/").last,
              key.count == 16, key.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else { return nil }
        return "loacl_srv_" + key
    }
}
