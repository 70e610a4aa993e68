import COpenSSL
import Glibc

/// An OpenSSL `SSL_CTX` built once from a `TLSConfiguration` and shared by every connection.
///
/// Sendable because the `SSL_CTX` is fully configured in `init` and never mutated afterwards:
/// the only use after that is `SSL_new`, which OpenSSL documents as safe to call concurrently on
/// one context (the context's reference count and session cache are internally locked). The
/// ALPN list read by the server's selection callback is immutable and lives as long as `self`,
/// which every connection keeps alive through its handler.
public final class TLSContext: @unchecked Sendable {
    public let configuration: TLSConfiguration
    let pointer: OpaquePointer
    private let alpn: ALPNWireList?

    public init(configuration: TLSConfiguration) throws(TLSError) {
        self.configuration = configuration
        guard let ctx = SSL_CTX_new(TLS_method()) else {
            throw .invalidConfiguration(OpenSSLErrors.message(fallback: "SSL_CTX_new failed"))
        }
        pointer = ctx
        alpn = configuration.alpnProtocols.isEmpty ? nil : try ALPNWireList(configuration.alpnProtocols)
        // From here on `deinit` frees `ctx` if a later step throws.
        try configureProtocol()
        try loadIdentity()
        try loadTrust()
        configureALPN()
    }

    deinit { SSL_CTX_free(pointer) }

    private func configureProtocol() throws(TLSError) {
        let c = configuration
        guard c.minimumVersion <= c.maximumVersion else {
            throw .invalidConfiguration("minimum TLS version is above the maximum")
        }
        _ = loacl_SSL_CTX_set_min_proto_version(pointer, c.minimumVersion.openSSLValue)
        _ = loacl_SSL_CTX_set_max_proto_version(pointer, c.maximumVersion.openSSLValue)
        _ = SSL_CTX_set_options(pointer, loacl_SSL_OP_NO_RENEGOTIATION() | loacl_SSL_OP_NO_COMPRESSION()
                                    | loacl_SSL_OP_CIPHER_SERVER_PREFERENCE())
        // Needed for TLS 1.2 session resumption when client certificates are verified.
        let sessionContext = Array("loacl".utf8)
        _ = SSL_CTX_set_session_id_context(pointer, sessionContext, UInt32(sessionContext.count))
    }

    private func loadIdentity() throws(TLSError) {
        switch (configuration.certificateChainFile, configuration.privateKeyFile) {
        case (nil, nil):
            return
        case (.some, nil):
            throw .invalidConfiguration("a certificate chain needs a private key file")
        case (nil, .some):
            throw .invalidConfiguration("a private key needs a certificate chain file")
        case let (chain?, key?):
            try Self.checkReadable(chain)
            try Self.checkReadable(key)
            ERR_clear_error()
            guard SSL_CTX_use_certificate_chain_file(pointer, chain) == 1 else {
                throw .badCertificate(path: chain, reason: OpenSSLErrors.message(fallback: "not a PEM certificate"))
            }
            guard SSL_CTX_use_PrivateKey_file(pointer, key, SSL_FILETYPE_PEM) == 1 else {
                let reasons = OpenSSLErrors.drainReasons()
                let text = reasons.map(\.text).joined(separator: "; ")
                if reasons.contains(where: { $0.reason == X509_R_KEY_VALUES_MISMATCH || $0.reason == X509_R_KEY_TYPE_MISMATCH }) {
                    throw .keyDoesNotMatchCertificate(reason: text)
                }
                throw .badPrivateKey(path: key, reason: text.isEmpty ? "not a PEM private key" : text)
            }
            guard SSL_CTX_check_private_key(pointer) == 1 else {
                throw .keyDoesNotMatchCertificate(reason: OpenSSLErrors.message(fallback: "key values mismatch"))
            }
        }
    }

    private func loadTrust() throws(TLSError) {
        let verification = configuration.peerVerification
        if let caFile = configuration.caFile {
            try Self.checkReadable(caFile)
            ERR_clear_error()
            guard SSL_CTX_load_verify_locations(pointer, caFile, nil) == 1 else {
                throw .badCAFile(path: caFile, reason: OpenSSLErrors.message(fallback: "no certificates found"))
            }
            // Servers name the acceptable CAs in their CertificateRequest.
            if verification != .none, let names = SSL_load_client_CA_file(caFile) {
                SSL_CTX_set_client_CA_list(pointer, names)
            }
        } else if verification != .none {
            // Clients fall back to the system roots; servers cannot verify clients without a CA.
            _ = SSL_CTX_set_default_verify_paths(pointer)
        }
        let mode: Int32 = switch verification {
        case .none: SSL_VERIFY_NONE
        case .optional: SSL_VERIFY_PEER
        case .required: SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        }
        SSL_CTX_set_verify(pointer, mode, nil)
    }

    private func configureALPN() {
        guard let alpn else { return }
        // Client side: what we offer.
        _ = SSL_CTX_set_alpn_protos(pointer, alpn.bytes.baseAddress, UInt32(alpn.bytes.count))
        // Server side: pick our most preferred protocol that the client offered.
        SSL_CTX_set_alpn_select_cb(pointer, { _, out, outLength, offered, offeredLength, arg in
            guard let arg, let out, let outLength else { return loacl_SSL_TLSEXT_ERR_ALERT_FATAL() }
            let ours = Unmanaged<ALPNWireList>.fromOpaque(arg).takeUnretainedValue().bytes
            var selected: UnsafeMutablePointer<UInt8>?
            let status = SSL_select_next_proto(&selected, outLength, ours.baseAddress, UInt32(ours.count),
                                               offered, offeredLength)
            guard status == OPENSSL_NPN_NEGOTIATED, let selected else {
                return loacl_SSL_TLSEXT_ERR_ALERT_FATAL() // no_application_protocol
            }
            out.pointee = UnsafePointer(selected)
            return loacl_SSL_TLSEXT_ERR_OK()
        }, Unmanaged.passUnretained(alpn).toOpaque())
    }

    /// Says "not found" for missing files instead of OpenSSL's generic "system library" error.
    private static func checkReadable(_ path: String) throws(TLSError) {
        guard access(path, R_OK) == 0 else { throw .fileNotFound(path: path) }
    }

    /// Whether a certificate was loaded (a server cannot handshake without one).
    var hasCertificate: Bool { SSL_CTX_get0_certificate(pointer) != nil }
}

/// ALPN protocols in TLS wire format (length-prefixed), in stable C memory so that OpenSSL's
/// selection callback can point into it.
private final class ALPNWireList {
    let bytes: UnsafeMutableBufferPointer<UInt8>

    init(_ protocols: [String]) throws(TLSError) {
        var wire: [UInt8] = []
        for name in protocols {
            let utf8 = Array(name.utf8)
            guard (1...255).contains(utf8.count) else {
                throw .invalidConfiguration("ALPN protocol names must be 1 to 255 bytes: \"\(name)\"")
            }
            wire.append(UInt8(utf8.count))
            wire.append(contentsOf: utf8)
        }
        bytes = .allocate(capacity: wire.count)
        _ = bytes.initialize(from: wire)
    }

    deinit { bytes.deallocate() }
}

extension TLSConfiguration.ProtocolVersion {
    var openSSLValue: Int32 {
        switch self {
        case .tls1_2: TLS1_2_VERSION
        case .tls1_3: TLS1_3_VERSION
        }
    }
}
