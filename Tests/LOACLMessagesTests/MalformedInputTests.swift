import LOACLMessages
import Testing

/// Bad bytes give ProtoDecodingError, never a crash or a silently repaired value.
@Suite("Malformed input")
struct MalformedInputTests {
    private func decodeError<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) -> ProtoDecodingError? {
        do {
            _ = try M(serializedBytes: bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func everyTruncationIsAnErrorOrAValidPrefix() {
        let bytes = Loacl_Testing_V1_Everything.sample(0).serializedBytes()
        var errors = 0
        for end in 0..<bytes.count {
            if let error = decodeError(Loacl_Testing_V1_Everything.self, Array(bytes[..<end])) {
                #expect(error.reason == .malformed)
                #expect(error.messageName == "loacl.testing.v1.Everything")
                errors += 1
            }
        }
        // Cutting inside a field (most cuts) must fail.
        #expect(errors > bytes.count / 2)
    }

    @Test func truncatedStringField() {
        var headers = Loacl_Wire_V1_CallHeaders()
        headers.method = "/loacl.v1.HealthService/Check"
        let bytes = headers.serializedBytes()
        let error = decodeError(Loacl_Wire_V1_CallHeaders.self, Array(bytes.dropLast()))
        #expect(error == ProtoDecodingError(messageName: "loacl.wire.v1.CallHeaders", reason: .malformed))
    }

    @Test func corruptedBytesNeverCrash() {
        let original = Loacl_Testing_V1_Everything.sample(4).serializedBytes()
        var rng = SplitMix64(seed: 0x10AC1)
        var decoded = 0, rejected = 0
        for _ in 0..<3000 {
            var bytes = original
            for _ in 0...(rng.next() % 4) {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            if decodeError(Loacl_Testing_V1_Everything.self, bytes) == nil { decoded += 1 } else { rejected += 1 }
        }
        #expect(decoded + rejected == 3000)
        #expect(rejected > 0)
    }

    @Test func randomGarbageNeverCrashes() {
        var rng = SplitMix64(seed: 42)
        for length in 0..<400 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = decodeError(Loacl_Testing_V1_Everything.self, bytes)
            _ = decodeError(Loacl_Wire_V1_CallHeaders.self, bytes)
            _ = decodeError(Loacl_Testing_V1_Tree.self, bytes)
        }
    }

    @Test("wrong wire type for a field", arguments: [
        [0x08, 0x01],  // field 1 (string) as varint
        [0x1D, 0, 0, 0, 0],  // field 3 (message) as fixed32
        [0x11, 0, 0, 0, 0, 0, 0, 0, 0],  // field 2 (uint64) as fixed64
    ] as [[UInt8]])
    func wrongWireType(bytes: [UInt8]) {
        #expect(decodeError(Loacl_Wire_V1_CallHeaders.self, bytes)?.reason == .malformed)
    }

    @Test func badVarintsAndLengths() {
        let tooLongVarint: [UInt8] = [0x10] + [UInt8](repeating: 0xFF, count: 10) + [0x01]
        #expect(decodeError(Loacl_Wire_V1_CallHeaders.self, tooLongVarint)?.reason == .malformed)
        let lengthPastEnd: [UInt8] = [0x0A, 0x7F, 0x61]
        #expect(decodeError(Loacl_Wire_V1_CallHeaders.self, lengthPastEnd)?.reason == .malformed)
        let hugeLength: [UInt8] = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]
        #expect(decodeError(Loacl_Wire_V1_CallHeaders.self, hugeLength)?.reason == .malformed)
        let fieldZero: [UInt8] = [0x00, 0x01]
        #expect(decodeError(Loacl_Wire_V1_CallHeaders.self, fieldZero)?.reason == .malformed)
    }

    @Test("invalid UTF-8 in a string field", arguments: [
        [0xC3, 0x28],  // bad continuation byte
        [0xC0, 0x80],  // overlong encoding
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate
        [0x61, 0xFF],  // never valid
        [0xF0, 0x9F, 0x8C],  // truncated sequence
    ] as [[UInt8]])
    func invalidUTF8(payload: [UInt8]) {
        let bytes: [UInt8] = [0x0A, UInt8(payload.count)] + payload
        let error = decodeError(Loacl_Wire_V1_CallHeaders.self, bytes)
        #expect(error == ProtoDecodingError(
            messageName: "loacl.wire.v1.CallHeaders",
            reason: .invalidUTF8(field: "loacl.wire.v1.CallHeaders.method")))
        #expect(error?.description.contains("invalid UTF-8") == true)
    }

    @Test func invalidUTF8InNestedRepeatedMessage() {
        // CallHeaders { metadata { key: "k" value: <C3 28> } }
        let entry: [UInt8] = [0x0A, 0x01, 0x6B, 0x12, 0x02, 0xC3, 0x28]
        let bytes: [UInt8] = [0x1A, UInt8(entry.count)] + entry
        let error = decodeError(Loacl_Wire_V1_CallHeaders.self, bytes)
        #expect(error == ProtoDecodingError(
            messageName: "loacl.wire.v1.CallHeaders",
            reason: .invalidUTF8(field: "loacl.wire.v1.MetadataEntry.value")))
    }

    @Test func invalidUTF8InMapKeyOneofAndRepeated() {
        // Everything.labels (50) { key: <C3 28> value: "v" }
        let entry: [UInt8] = [0x0A, 0x02, 0xC3, 0x28, 0x12, 0x01, 0x76]
        let map: [UInt8] = [0x92, 0x03, UInt8(entry.count)] + entry
        #expect(decodeError(Loacl_Testing_V1_Everything.self, map)?.reason
            == .invalidUTF8(field: "loacl.testing.v1.Everything.LabelsEntry.key"))
        // Everything.text (30, oneof)
        let oneof: [UInt8] = [0xF2, 0x01, 0x01, 0xFF]
        #expect(decodeError(Loacl_Testing_V1_Everything.self, oneof)?.reason
            == .invalidUTF8(field: "loacl.testing.v1.Everything.text"))
        // Everything.r_string (24, repeated): "ok", <FF>
        let repeated: [UInt8] = [0xC2, 0x01, 0x02, 0x6F, 0x6B, 0xC2, 0x01, 0x01, 0xFF]
        #expect(decodeError(Loacl_Testing_V1_Everything.self, repeated)?.reason
            == .invalidUTF8(field: "loacl.testing.v1.Everything.r_string"))
        // Everything.o_string (41, proto3 optional)
        let optional: [UInt8] = [0xCA, 0x02, 0x01, 0xFF]
        #expect(decodeError(Loacl_Testing_V1_Everything.self, optional)?.reason
            == .invalidUTF8(field: "loacl.testing.v1.Everything.o_string"))
    }

    @Test func invalidUTF8InBytesFieldIsFine() throws {
        // binary_value (3) is bytes: any content is valid.
        let bytes: [UInt8] = [0x1A, 0x02, 0xC3, 0x28]
        let entry = try Loacl_Wire_V1_MetadataEntry(serializedBytes: bytes)
        #expect(entry.binaryValue == [0xC3, 0x28])
    }

    @Test func unknownFieldsAreSkipped() throws {
        // field 99 (varint) then method "m"
        let bytes: [UInt8] = [0x98, 0x06, 0x05, 0x0A, 0x01, 0x6D]
        let headers = try Loacl_Wire_V1_CallHeaders(serializedBytes: bytes)
        #expect(headers.method == "m")
    }
}

/// A tiny deterministic generator, so failures reproduce.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
