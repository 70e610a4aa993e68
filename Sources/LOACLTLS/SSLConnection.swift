import COpenSSL
import NIOCore

/// One connection's `SSL` object and its two memory BIOs: ciphertext from the network goes into
/// `networkIn`, ciphertext for the network comes out of `networkOut`. Owned by exactly one
/// `OpenSSLHandler` and used only on its event loop.
final class SSLConnection {
    enum HandshakeResult {
        case complete
        case needsMoreData
        case failed(TLSError)
    }

    enum ReadResult {
        case readPlaintext
        case needsMoreData
        case closeNotify
        case failed(TLSError)
    }

    private let ssl: OpaquePointer
    private let networkIn: OpaquePointer
    private let networkOut: OpaquePointer
    /// Keeps the context (and its ALPN list) alive as long as the connection.
    private let context: TLSContext

    init(context: TLSContext, server: Bool, serverName: String?) throws(TLSError) {
        self.context = context
        guard let ssl = SSL_new(context.pointer) else {
            throw .invalidConfiguration(OpenSSLErrors.message(fallback: "SSL_new failed"))
        }
        guard let networkIn = BIO_new(BIO_s_mem()), let networkOut = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw .invalidConfiguration("BIO_new failed")
        }
        // An empty BIO means "retry later", not end of stream.
        _ = loacl_BIO_set_mem_eof_return(networkIn, -1)
        _ = loacl_BIO_set_mem_eof_return(networkOut, -1)
        SSL_set_bio(ssl, networkIn, networkOut) // the SSL now owns both BIOs
        self.ssl = ssl
        self.networkIn = networkIn
        self.networkOut = networkOut

        if server {
            guard context.hasCertificate else {
                throw .invalidConfiguration("a TLS server needs a certificate chain and private key")
            }
            SSL_set_accept_state(ssl)
        } else {
            SSL_set_connect_state(ssl)
            if let serverName { try expectServerName(serverName) }
        }
    }

    deinit { SSL_free(ssl) }

    /// SNI plus host name (or IP address) verification of the server's certificate.
    private func expectServerName(_ name: String) throws(TLSError) {
        let param = SSL_get0_param(ssl)
        if X509_VERIFY_PARAM_set1_ip_asc(param, name) == 1 {
            return // IP literals are matched against IP SANs and never sent as SNI (RFC 6066)
        }
        ERR_clear_error()
        X509_VERIFY_PARAM_set_hostflags(param, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        guard X509_VERIFY_PARAM_set1_host(param, name, 0) == 1,
              loacl_SSL_set_tlsext_host_name(ssl, name) == 1 else {
            throw .invalidConfiguration("invalid server name \"\(name)\": \(OpenSSLErrors.message(fallback: "rejected"))")
        }
    }

    // MARK: Network side

    /// Hands ciphertext received from the network to OpenSSL.
    func receive(_ ciphertext: ByteBuffer) {
        ciphertext.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = BIO_write(networkIn, bytes.baseAddress! + offset, Int32(clamping: bytes.count - offset))
                precondition(written > 0, "memory BIO write failed (out of memory)")
                offset += Int(written)
            }
        }
    }

    var hasPendingOutput: Bool { BIO_ctrl_pending(networkOut) > 0 }

    /// Moves all ciphertext OpenSSL produced (handshake messages, records, alerts) into `buffer`.
    func drainOutput(into buffer: inout ByteBuffer) {
        let pending = BIO_ctrl_pending(networkOut)
        guard pending > 0 else { return }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { space in
            Int(max(0, BIO_read(networkOut, space.baseAddress, Int32(clamping: pending))))
        }
    }

    // MARK: TLS operations

    func handshake() -> HandshakeResult {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 { return .complete }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .needsMoreData
        default: return .failed(handshakeError())
        }
    }

    /// Decrypts one or more records into `plaintext` (at most 16 KiB a call).
    func read(into plaintext: inout ByteBuffer) -> ReadResult {
        ERR_clear_error()
        var result: Int32 = 0
        plaintext.writeWithUnsafeMutableBytes(minimumWritableBytes: 16_384) { space in
            result = SSL_read(ssl, space.baseAddress, Int32(clamping: space.count))
            return result > 0 ? Int(result) : 0
        }
        if result > 0 { return .readPlaintext }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .needsMoreData
        case SSL_ERROR_ZERO_RETURN: return .closeNotify
        default:
            let reasons = OpenSSLErrors.drainReasons().map(\.text)
            return .failed(.protocolError(reason: reasons.isEmpty ? "SSL_read failed" : reasons.joined(separator: "; ")))
        }
    }

    /// Encrypts all of `plaintext` and appends the records to `ciphertext`. Large writes go in
    /// slices so the output BIO never holds more than one slice's records.
    func write(_ plaintext: ByteBuffer, into ciphertext: inout ByteBuffer) -> TLSError? {
        plaintext.withUnsafeReadableBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                ERR_clear_error()
                let slice = min(bytes.count - offset, Self.writeSlice)
                let written = SSL_write(ssl, bytes.baseAddress! + offset, Int32(slice))
                guard written > 0 else {
                    return .protocolError(reason: OpenSSLErrors.message(fallback: "SSL_write failed"))
                }
                offset += Int(written)
                drainOutput(into: &ciphertext)
            }
            return nil
        }
    }

    private static let writeSlice = 256 * 1024

    /// Queues our close_notify alert.
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    // MARK: Results

    private func handshakeError() -> TLSError {
        let reasons = OpenSSLErrors.drainReasons()
        let text = reasons.isEmpty ? "unknown error" : reasons.map(\.text).joined(separator: "; ")
        let verifyResult = SSL_get_verify_result(ssl)
        if reasons.contains(where: { $0.reason == SSL_R_CERTIFICATE_VERIFY_FAILED }), verifyResult != X509_V_OK {
            let why = String(cString: X509_verify_cert_error_string(verifyResult))
            return .certificateVerificationFailed(reason: why)
        }
        return .handshakeFailed(reason: text)
    }

    func handshakeCompleted(sentServerName: String?) -> TLSHandshakeCompleted {
        var alpnPointer: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnPointer, &alpnLength)
        let alpn = alpnPointer.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self) }
        let cipher = SSL_get_current_cipher(ssl).flatMap { SSL_CIPHER_get_name($0) }.map { String(cString: $0) } ?? "unknown"
        var subject: String?
        var commonName: String?
        if let certificate = SSL_get1_peer_certificate(ssl) {
            defer { X509_free(certificate) }
            if let name = X509_get_subject_name(certificate) {
                subject = Self.rfc2253(name)
                commonName = Self.commonName(name)
            }
        }
        let serverName = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) } ?? sentServerName
        return TLSHandshakeCompleted(protocolVersion: String(cString: SSL_get_version(ssl)), alpnProtocol: alpn,
                                     cipher: cipher, peerSubject: subject, peerCommonName: commonName,
                                     serverName: serverName)
    }

    private static func rfc2253(_ name: OpaquePointer) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, loacl_XN_FLAG_RFC2253()) >= 0 else { return nil }
        let length = BIO_ctrl_pending(bio)
        var bytes = [UInt8](repeating: 0, count: length)
        let read = BIO_read(bio, &bytes, Int32(length))
        return String(decoding: bytes.prefix(Int(max(0, read))), as: UTF8.self)
    }

    private static func commonName(_ name: OpaquePointer) -> String? {
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index),
              let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { CRYPTO_free(utf8, #fileID, #line) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }
}
