import LOACLMessages
import Testing

/// Bytes from another encoder (protoc's C++ one) decode to the same values, and protoc reads ours.
@Suite("Interop with protoc --encode / --decode")
struct InteropTests {
    @Test func protocEncodedCallHeadersDecode() async throws {
        let text = """
            method: "/loacl.v1.ThreadService/CreateThread"
            timeout_ms: 1500
            metadata { key: "x-loacl-session-token" value: "h\\303\\251llo \\360\\237\\214\\215" }
            metadata { key: "trace-bin" binary_value: "\\000\\001\\377" }
            """
        let bytes = try await Repository.protocEncode("loacl.wire.v1.CallHeaders", text: text)
        let headers = try Loacl_Wire_V1_CallHeaders(serializedBytes: bytes)
        #expect(headers.method == "/loacl.v1.ThreadService/CreateThread")
        #expect(headers.timeoutMs == 1500)
        #expect(headers.metadata.count == 2)
        #expect(headers.metadata[0].key == "x-loacl-session-token")
        #expect(headers.metadata[0].value == "héllo 🌍")
        #expect(headers.metadata[1].binaryValue == [0, 1, 255])
        #expect(headers.serializedBytes() == bytes)
    }

    @Test func protocDecodesOurCallStatus() async throws {
        var status = Loacl_Wire_V1_CallStatus()
        status.code = 5
        status.message = "thread not found"
        var entry = Loacl_Wire_V1_MetadataEntry()
        entry.key = "retry-after"
        entry.value = "3"
        status.metadata = [entry]
        let text = try await Repository.protocDecode("loacl.wire.v1.CallStatus", bytes: status.serializedBytes())
        #expect(text == """
            code: 5
            message: "thread not found"
            metadata {
              key: "retry-after"
              value: "3"
            }

            """)
    }

    static let typeNames = allSampleTypes.map { $0.protoMessageName }

    /// Swift bytes -> protoc --decode -> text -> protoc --encode -> Swift: same value.
    @Test("protoc reads and re-encodes samples of every message type", arguments: typeNames)
    func throughProtoc(name: String) async throws {
        let type = try #require(allSampleTypes.first { $0.protoMessageName == name })
        try await throughProtoc(type)
    }

    private func throughProtoc<M: SampleProviding>(_ type: M.Type) async throws {
        for variant in [0, 1, 2] {
            let message = M.sample(variant)
            let text = try await Repository.protocDecode(M.protoMessageName, bytes: message.serializedBytes())
            let bytes = try await Repository.protocEncode(M.protoMessageName, text: text)
            let decoded = try M(serializedBytes: bytes)
            #expect(decoded == message, "\(M.protoMessageName) variant \(variant) via protoc:\n\(text)")
        }
    }
}
