import LOACLMessages
import Testing

@Suite("Service descriptors, registry and naming")
struct DescriptorTests {
    @Test func protobufCDescriptorsMatchGeneratedTables() throws {
        #expect(!ProtoRegistry.services.isEmpty)
        #expect(Set(ProtoRegistry.services.map(\.name)) == Set(generatedMethodTables.keys))
        for service in ProtoRegistry.services {
            let generated = try #require(generatedMethodTables[service.name])
            #expect(service.methods == generated, "\(service.name): C descriptor and generator disagree")
        }
    }

    @Test func everyMethodTypeIsRegistered() throws {
        for service in ProtoRegistry.services {
            for method in service.methods {
                #expect(method.path == "/\(service.name)/\(method.method)")
                #expect(ProtoRegistry.messageType(named: method.requestType) != nil, "\(method.requestType)")
                #expect(ProtoRegistry.messageType(named: method.responseType) != nil, "\(method.responseType)")
                #expect(ProtoRegistry.method(path: method.path) == method)
            }
        }
    }

    @Test func streamingFlags() {
        let service = Loacl_Testing_V1_KitchenService.descriptor
        #expect(service.name == "loacl.testing.v1.KitchenService")
        #expect(service.methods.map(\.method) == ["Echo", "Upload", "Watch", "Chat"])
        let flags = service.methods.map { [$0.clientStreaming, $0.serverStreaming] }
        #expect(flags == [[false, false], [true, false], [false, true], [true, true]])
        let chat = Loacl_Testing_V1_KitchenService.Method.chat
        #expect(chat.path == "/loacl.testing.v1.KitchenService/Chat")
        #expect(chat.requestType == "loacl.testing.v1.Tree")
        #expect(service.method(named: "Upload") == Loacl_Testing_V1_KitchenService.Method.upload)
        #expect(ProtoRegistry.service(named: "loacl.testing.v1.KitchenService") == service)
    }

    @Test func registryFindsEveryType() throws {
        #expect(ProtoRegistry.messageTypes.count == allSampleTypes.count)
        for type in ProtoRegistry.messageTypes {
            let found = try #require(ProtoRegistry.messageType(named: type.protoMessageName))
            #expect(ObjectIdentifier(found) == ObjectIdentifier(type))
        }
        #expect(ProtoRegistry.messageType(named: "loacl.wire.v1.CallHeaders") is Loacl_Wire_V1_CallHeaders.Type)
        #expect(ProtoRegistry.messageType(named: "loacl.testing.v1.Everything.Inner")
            is Loacl_Testing_V1_Everything.Inner.Type)
        #expect(ProtoRegistry.messageType(named: "no.such.Message") == nil)
        // Map entries are an encoding detail, not types.
        #expect(ProtoRegistry.messageType(named: "loacl.testing.v1.Everything.LabelsEntry") == nil)
    }

    @Test func swiftProtobufStyleNames() {
        // These lines only compile with swift-protobuf's naming rules.
        var m = Loacl_Testing_V1_Everything()
        m.inner.sessionID = "s"
        m.apiKey = "k"
        m.url = "u"
        m.imageURL = "i"
        m.httpStatus = 200
        m.pageToken = "p"
        m.`default` = "d"
        m.`class` = "c"
        m.description_p = "x"
        m.mode = .safeAndSound
        m.color = .greenBlue
        m.leafByID[1] = Loacl_Testing_V1_Leaf()
        #expect(m.hasInner)
        #expect(Loacl_Testing_V1_Everything.protoMessageName == "loacl.testing.v1.Everything")
        #expect(Loacl_Testing_V1_Everything.Mode.protoEnumName == "loacl.testing.v1.Everything.Mode")
        #expect(Loacl_Testing_V1_Color.allCases == [.unspecified, .red, .greenBlue, .negative])
        #expect(Loacl_Testing_V1_Color.negative.rawValue == -3)
        #expect("\(Loacl_Testing_V1_Color.red)" == "COLOR_RED")
    }

    @Test func messageAccessorsBehaveLikeSwiftProtobuf() {
        var m = Loacl_Testing_V1_Everything()
        #expect(!m.hasLeaf)
        #expect(m.leaf == Loacl_Testing_V1_Leaf())
        m.leaf.weight = 3
        #expect(m.hasLeaf)
        m.clearLeaf()
        #expect(!m.hasLeaf)
        m.text = "t"
        #expect(m.payload == .text("t"))
        m.number = 9
        #expect(m.text == "")
        #expect(m.payload == .number(9))
    }
}
