// Bearer tokens as clients present them: the JWT parser and the verifier (HS256 with a fixed
// secret, the JWKS algorithms with an empty key set). Nothing random may verify: a token that
// passes must carry the HMAC the secret makes.
import FuzzSupport
import Foundation
@testable import LOACLCrypto

let secret = Array("fuzzing-secret-fuzzing-secret-32".utf8)
let verifier = JWTVerifier(secret: secret, requireExpiration: false)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJWT(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let token = fuzzText(UnsafeRawBufferPointer(start: start, count: count))
    guard let jwt = try? JWT(parsing: token) else { return 0 }
    _ = jwt.algorithm
    _ = jwt.keyID
    if (try? verifier.verify(jwt, now: Date(timeIntervalSince1970: 1_800_000_000))) != nil {
        let signingInput = String(token[..<token.lastIndex(of: ".")!])
        fuzzCheck(jwt.algorithm == "HS256" && HMACSHA256.isValid(jwt.signature, key: secret, message: Array(signingInput.utf8)),
                  "a token verified without the secret's HMAC")
    }
    return 0
}
