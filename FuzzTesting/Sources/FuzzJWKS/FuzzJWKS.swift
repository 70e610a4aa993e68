// JWKS documents as an identity provider's URL serves them (untrusted: the network, a
// misconfigured provider): keys are loaded or skipped with a reason, never crash OpenSSL.
import FuzzSupport
import LOACLCrypto

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWKS(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: count)
    // An ES256 signature's raw r‖s, as a token carries it, converted for OpenSSL.
    if let der = ECDSASignature.der(fromRawP256: Array(input)) { fuzzCheck(der.count <= 72, "DER signature too long") }
    guard let set = try? JSONWebKeySet(json: input) else { return 0 }
    fuzzCheck(!set.keys.isEmpty, "a key set without usable keys was accepted")
    for key in set.keys {
        _ = key.publicKey.isValidSignature(Array(input.prefix(64)), for: Array(input))
    }
    return 0
}
