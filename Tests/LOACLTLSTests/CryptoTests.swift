import Foundation
import LOACLCrypto
import Testing

@Suite("LOACLCrypto primitives")
struct CryptoTests {
    private func hex(_ string: String) -> [UInt8] { Hex.decode(string)! }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256KnownAnswers(message: String, digest: String) {
        #expect(Hex.encode(SHA256.hash(message)) == digest)
    }

    @Test func sha256MillionAs() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Hex.encode(SHA256.hash(message)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    // RFC 4231 test cases 1, 2, 3, 6 and 7.
    @Test func hmacSHA256RFC4231() {
        let cases: [([UInt8], [UInt8], String)] = [
            ([UInt8](repeating: 0x0b, count: 20), Array("Hi There".utf8),
             "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
            (Array("Jefe".utf8), Array("what do ya want for nothing?".utf8),
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
            ([UInt8](repeating: 0xaa, count: 20), [UInt8](repeating: 0xdd, count: 50),
             "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            ([UInt8](repeating: 0xaa, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
             "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
            ([UInt8](repeating: 0xaa, count: 131),
             Array("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".utf8),
             "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
        ]
        for (key, message, expected) in cases {
            #expect(Hex.encode(HMACSHA256.authenticate(key: key, message: message)) == expected)
            #expect(HMACSHA256.isValid(hex(expected), key: key, message: message))
        }
        // An empty key is legal HMAC.
        #expect(Hex.encode(HMACSHA256.authenticate(key: [UInt8](), message: [UInt8]()))
            == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    // The GCM specification's test cases 13, 14 and 16 (AES-256).
    @Test func aesGCMKnownAnswers() throws {
        let zeroKey = [UInt8](repeating: 0, count: 32)
        let zeroNonce = [UInt8](repeating: 0, count: 12)
        let empty = try AESGCM.seal(key32: zeroKey, nonce: zeroNonce, plaintext: [])
        #expect(Hex.encode(empty.dropFirst(12)) == "530f8afbc74536b9a963b4f1c4cb738b")

        let block = try AESGCM.seal(key32: zeroKey, nonce: zeroNonce, plaintext: [UInt8](repeating: 0, count: 16))
        #expect(Hex.encode(block.dropFirst(12)) == "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919")

        let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let nonce = hex("cafebabefacedbaddecaf888")
        let plaintext = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let box = try AESGCM.seal(key32: key, nonce: nonce, plaintext: plaintext, aad: aad)
        #expect(Hex.encode(box) == "cafebabefacedbaddecaf888"
            + "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
            + "76fc6ece0f4e1768cddf8853bb2d551b")
        #expect(try AESGCM.open(key32: key, sealed: box, aad: aad) == plaintext)
    }

    @Test func aesGCMRoundTripUsesFreshNonces() throws {
        let key = SecureRandom.bytes(32)
        let secret = Array("sk-live-0123456789".utf8)
        let first = try AESGCM.seal(key32: key, plaintext: secret, aad: Array("tenant-1".utf8))
        let second = try AESGCM.seal(key32: key, plaintext: secret, aad: Array("tenant-1".utf8))
        #expect(first.count == 12 + secret.count + 16)
        #expect(first != second)
        #expect(try AESGCM.open(key32: key, sealed: first, aad: Array("tenant-1".utf8)) == secret)
    }

    @Test func aesGCMDetectsTampering() throws {
        let key = SecureRandom.bytes(32)
        let box = try AESGCM.seal(key32: key, plaintext: Array("payload".utf8), aad: Array("aad".utf8))
        for index in [0, 12, box.count - 1] { // nonce, ciphertext, tag
            var tampered = box
            tampered[index] ^= 0x01
            #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(key32: key, sealed: tampered, aad: Array("aad".utf8)) }
        }
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(key32: key, sealed: box, aad: Array("other".utf8)) }
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(key32: SecureRandom.bytes(32), sealed: box, aad: Array("aad".utf8)) }
        #expect(throws: CryptoError.malformedSealedBox) { try AESGCM.open(key32: key, sealed: Array(box.prefix(27))) }
        #expect(throws: CryptoError.invalidKeyLength(expected: 32, actual: 16)) {
            try AESGCM.seal(key32: [UInt8](repeating: 1, count: 16), plaintext: [1])
        }
    }

    @Test func randomAndConstantTimeCompare() {
        let a = SecureRandom.bytes(32)
        #expect(a.count == 32)
        #expect(a != SecureRandom.bytes(32))
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(ConstantTime.equals(a, a))
        var b = a
        b[31] ^= 0x80
        #expect(!ConstantTime.equals(a, b))
        #expect(!ConstantTime.equals(a, Array(a.prefix(31))))
        #expect(ConstantTime.equals([], []))
    }

    @Test func hexAndBase64URL() {
        #expect(Hex.encode([0x00, 0xab, 0xff]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xab, 0xff])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Base64URL.encode([0xfb, 0xff, 0xbf]) == "-_-_")
        #expect(Base64URL.encode(Array("a".utf8)) == "YQ")
        #expect(Base64URL.decode("-_-_") == [0xfb, 0xff, 0xbf])
        #expect(Base64URL.decode("YQ") == Array("a".utf8))
        #expect(Base64URL.decode("YQ==") == nil)   // no padding in base64url
        #expect(Base64URL.decode("+/+/") == nil)   // standard alphabet
        #expect(Base64URL.decode("Y") == nil)      // impossible length
        #expect(Base64URL.decode("YR") == nil)     // non-canonical trailing bits
        #expect(Base64URL.decode("") == [])
    }
}
