import LOACLMessages
import LOACLTestKeys
import Testing

@Suite("Round trips through protobuf-c")
struct RoundTripTests {
    static let typeNames = allSampleTypes.map { $0.protoMessageName }

    @Test("every generated message type round-trips every sample variant", arguments: typeNames)
    func everyType(name: String) throws {
        let type = try #require(allSampleTypes.first { $0.protoMessageName == name })
        try roundTripAll(type)
    }

    private func roundTripAll<M: SampleProviding>(_ type: M.Type) throws {
        try expectRoundTrip(M())
        // Two passes over the variants, so each oneof member meets different field values.
        for variant in 0..<(M.sampleVariants * 2 + 3) {
            try expectRoundTrip(M.sample(variant))
        }
    }

    @Test func sampleValuesAreNotEmpty() {
        // Guards the round-trip test against samples that set nothing.
        let sample = Loacl_Testing_V1_Everything.sample(0)
        #expect(sample != Loacl_Testing_V1_Everything())
        #expect(sample.serializedBytes().count > 200)
    }

    @Test func emptyMessageEncodesToNothing() throws {
        #expect(Loacl_Wire_V1_CallHeaders().serializedBytes().isEmpty)
        #expect(try Loacl_Wire_V1_CallHeaders(serializedBytes: [UInt8]()) == Loacl_Wire_V1_CallHeaders())
        #expect(try Loacl_Testing_V1_Everything(serializedBytes: [UInt8]()) == Loacl_Testing_V1_Everything())
    }

    /// Seconds of work in a debug build: on a thread of its own, not the cooperative pool.
    @Test(.ownThread) func fourMiBStringsAndBytes() throws {
        var message = Loacl_Testing_V1_Everything()
        message.fString = String(repeating: "é🌍x", count: 4 << 20 / 7)
        message.fBytes = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        message.rBytes = [message.fBytes, []]
        message.payload = .text(message.fString)
        try expectRoundTrip(message)
        #expect(message.serializedSize > 3 * (4 << 20))
    }

    @Test func unknownEnumValuesSurvive() throws {
        var message = Loacl_Testing_V1_Everything()
        message.color = Loacl_Testing_V1_Color(rawValue: 4242)
        message.rColor = [.red, Loacl_Testing_V1_Color(rawValue: -77), .negative]
        let decoded = try Loacl_Testing_V1_Everything(serializedBytes: message.serializedBytes())
        #expect(decoded.color.rawValue == 4242)
        #expect(decoded.color.protoName == nil)
        #expect(decoded.rColor.map(\.rawValue) == [1, -77, -3])
        #expect(decoded.rColor[2].protoName == "COLOR_NEGATIVE")
    }

    @Test func optionalZeroValuesKeepPresence() throws {
        var message = Loacl_Testing_V1_Everything()
        message.oInt32 = 0
        message.oString = ""
        message.oBool = false
        message.oColor = .unspecified
        message.oBytes = []
        let bytes = message.serializedBytes()
        #expect(!bytes.isEmpty)
        let decoded = try Loacl_Testing_V1_Everything(serializedBytes: bytes)
        #expect(decoded.oInt32 == 0)
        #expect(decoded.oString == "")
        #expect(decoded.oBool == false)
        #expect(decoded.oColor == .unspecified)
        #expect(decoded.oBytes == [])
        #expect(decoded.oDouble == nil)
        #expect(!decoded.hasOLeaf)
    }

    @Test func emptySubmessagePresenceSurvives() throws {
        var message = Loacl_Testing_V1_Everything()
        message.leaf = .init()
        message.payload = .leafPayload(.init())
        message.other = .flag(false)
        let decoded = try Loacl_Testing_V1_Everything(serializedBytes: message.serializedBytes())
        #expect(decoded.hasLeaf)
        #expect(!decoded.hasInner)
        #expect(decoded.payload == .leafPayload(.init()))
        #expect(decoded.other == .flag(false))
        #expect(decoded == message)
    }

    @Test func recursiveMessages() throws {
        var tree = Loacl_Testing_V1_Tree()
        tree.label = "root"
        var child = Loacl_Testing_V1_Tree()
        child.label = "child"
        child.node = .leafLabel("leaf")
        tree.left = child
        tree.children = [child, child]
        tree.node = .onlyChild(child)
        let decoded = try Loacl_Testing_V1_Tree(serializedBytes: tree.serializedBytes())
        #expect(decoded == tree)
        #expect(decoded.left.node == .leafLabel("leaf"))
        #expect(decoded.onlyChild.label == "child")
    }

    @Test func packsIntoLargerCallerBuffer() throws {
        let message = Loacl_Testing_V1_Everything.sample(1)
        let expected = message.serializedBytes()
        let packed: [UInt8] = message.withPacked { size, pack in
            #expect(size == expected.count)
            var buffer = [UInt8](repeating: 0xEE, count: size + 16)
            buffer.withUnsafeMutableBytes { pack($0) }
            #expect(buffer[size...].allSatisfy { $0 == 0xEE })
            return Array(buffer[..<size])
        }
        #expect(packed == expected)
    }

    @Test func encodingIsDeterministic() {
        let message = Loacl_Testing_V1_Everything.sample(3)
        let first = message.serializedBytes()
        for _ in 0..<5 {
            #expect(message.serializedBytes() == first)
        }
    }

    @Test func decodesFromNonContiguousCollection() throws {
        let message = Loacl_Wire_V1_CallStatus.sample(0)
        let bytes = message.serializedBytes()
        let slice = bytes.reversed().reversed()  // a lazy, non-contiguous collection
        #expect(try Loacl_Wire_V1_CallStatus(serializedBytes: slice) == message)
        #expect(try Loacl_Wire_V1_CallStatus(serializedBytes: bytes[...]) == message)
    }
}

func expectRoundTrip<M: ProtoMessage>(
    _ message: M, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let bytes = message.serializedBytes()
    let decoded = try M(serializedBytes: bytes)
    #expect(decoded == message, "\(M.protoMessageName) changed in a round trip", sourceLocation: sourceLocation)
    #expect(decoded.serializedBytes() == bytes, sourceLocation: sourceLocation)
}
