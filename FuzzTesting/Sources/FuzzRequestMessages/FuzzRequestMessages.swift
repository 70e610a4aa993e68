// Every RPC's request message through protobuf-c: the first byte picks the method, the rest is
// the message. A decoded message must re-encode to bytes that decode to the same value.
import FuzzSupport
import LOACLMessages

/// The request types of every method the server registers, once each, in a fixed order.
let requestTypes: [any ProtoMessage.Type] = {
    var seen = Set<String>()
    return ProtoRegistry.services.flatMap(\.methods).compactMap { method in
        guard seen.insert(method.requestType).inserted else { return nil }
        return ProtoRegistry.messageType(named: method.requestType)
    }
}()

func roundTrip(_ type: any ProtoMessage.Type, _ bytes: UnsafeRawBufferPointer) {
    guard let message = try? type.init(serializedBytes: bytes) else { return }
    let again = try? type.init(serializedBytes: message.serializedBytes())
    fuzzCheck(again.map { AnyHashable($0) } == AnyHashable(message), "\(type.protoMessageName) round trip changed the value")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestMessages(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard let selector = input.first else { return 0 }
    roundTrip(requestTypes[Int(selector) % requestTypes.count], UnsafeRawBufferPointer(rebasing: input.dropFirst()))
    return 0
}
