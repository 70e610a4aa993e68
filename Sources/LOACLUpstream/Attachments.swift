import Foundation

/// How an attachment travels upstream.
public enum AttachmentKind: Sendable, Hashable {
    /// Text-like files: sent inline in the user message.
    case text
    /// PNG, JPEG, GIF, WebP: sent as an image input part (base64 data URL).
    case image
    /// PDF: sent as a file input part (base64 data URL).
    case pdf
    /// Anything else: refused before any network call.
    case unsupported

    public init(mimeType: String) {
        let mime = mimeType.lowercased().split(separator: ";").first.map(String.init)?
            .trimmingCharacters(in: .whitespaces) ?? ""
        switch mime {
        case "image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp": self = .image
        case "application/pdf": self = .pdf
        case _ where mime.hasPrefix("text/"): self = .text
        case "application/json", "application/xml", "application/x-yaml", "application/yaml",
             "application/x-ndjson", "application/javascript", "application/sql", "application/toml":
            self = .text
        default: self = .unsupported
        }
    }
}

/// Size limits for attachments sent upstream (OpenAI accepts up to 50 MB of images and 32 MB
/// of PDF per request; the defaults stay well below to keep requests fast).
public struct AttachmentLimits: Sendable, Hashable {
    /// Total bytes of text inlined into the message.
    public var maxInlineTextBytes: Int
    /// Bytes of one image.
    public var maxImageBytes: Int
    /// Bytes of one PDF.
    public var maxPDFBytes: Int
    /// Bytes of all attachments together.
    public var maxTotalBytes: Int

    public init(maxInlineTextBytes: Int = 256 * 1024, maxImageBytes: Int = 10 * 1024 * 1024,
                maxPDFBytes: Int = 20 * 1024 * 1024, maxTotalBytes: Int = 32 * 1024 * 1024) {
        self.maxInlineTextBytes = maxInlineTextBytes
        self.maxImageBytes = maxImageBytes
        self.maxPDFBytes = maxPDFBytes
        self.maxTotalBytes = maxTotalBytes
    }

    /// Checks every attachment against the limits; throws `.failed` naming the first offender.
    public func validate(_ attachments: [ChatAttachment]) throws(ChatProviderError) {
        try validate(attachments.map { (filename: $0.filename, mimeType: $0.mimeType, size: $0.data.count) })
        for a in attachments where AttachmentKind(mimeType: a.mimeType) == .text {
            guard String(validating: a.data, as: UTF8.self) != nil else {
                throw .failed("attachment \(a.filename) is not valid UTF-8 text")
            }
        }
    }

    /// The checks that need no file contents (types and sizes), so a server can refuse
    /// attachments before it stores anything or reads the files.
    public func validate(_ files: [(filename: String, mimeType: String, size: Int)]) throws(ChatProviderError) {
        var total = 0
        var text = 0
        for file in files {
            total += file.size
            switch AttachmentKind(mimeType: file.mimeType) {
            case .text:
                text += file.size
                guard text <= maxInlineTextBytes else {
                    throw .failed("text attachments exceed \(maxInlineTextBytes) bytes (at \(file.filename))")
                }
            case .image:
                guard file.size <= maxImageBytes else {
                    throw .failed("image \(file.filename) is \(file.size) bytes; the limit is \(maxImageBytes)")
                }
            case .pdf:
                guard file.size <= maxPDFBytes else {
                    throw .failed("PDF \(file.filename) is \(file.size) bytes; the limit is \(maxPDFBytes)")
                }
            case .unsupported:
                throw .failed("attachment \(file.filename) has unsupported type \(file.mimeType)")
            }
            guard total <= maxTotalBytes else {
                throw .failed("attachments exceed \(maxTotalBytes) bytes in total")
            }
        }
    }
}

extension ChatAttachment {
    /// The user-visible block a text attachment becomes inside the message.
    var inlineText: String {
        let body = String(decoding: data, as: UTF8.self)
        return "\n\n--- Attached file: \(filename) (\(mimeType)) ---\n\(body)\n--- End of \(filename) ---"
    }

    /// `data:<mime>;base64,<data>` for image and file input parts.
    var dataURL: String {
        "data:\(mimeType.lowercased());base64,\(Base64.encode(data))"
    }
}

extension ChatRequest {
    /// The user message with every text attachment appended.
    var userTextWithInlineAttachments: String {
        attachments.filter { AttachmentKind(mimeType: $0.mimeType) == .text }
            .reduce(userMessage) { $0 + $1.inlineText }
    }

    var binaryAttachments: [ChatAttachment] {
        attachments.filter {
            let kind = AttachmentKind(mimeType: $0.mimeType)
            return kind == .image || kind == .pdf
        }
    }
}
