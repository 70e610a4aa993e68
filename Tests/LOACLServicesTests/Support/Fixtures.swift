import Foundation
import LOACLClient
import LOACLCore
import LOACLCrypto
import LOACLMessages
import LOACLServices
import Logging
import Testing

/// Runs `body` with a fresh harness (own database, server, storage) and always tears it down.
func withHarness(maxFileSize: UInt64 = 64 * 1024, logLevel: Logger.Level = .trace,
                 userTokens: UserTokenVerifier = UserTokenVerifier(JWTVerifier(secret: Harness.jwtSecret)),
                 _ body: (Harness) async throws -> Void) async throws {
    let harness = try await Harness.start(maxFileSize: maxFileSize, logLevel: logLevel, userTokens: userTokens)
    do {
        try await body(harness)
    } catch {
        await harness.stop()
        throw error
    }
    await harness.stop()
}

extension [Loacl_V1_SendMessageEvent] {
    /// The exchange itself: the events without the run's own (`run` status events).
    var withoutRunEvents: [Loacl_V1_SendMessageEvent] {
        filter { if case .run? = $0.event { false } else { true } }
    }
}

typealias AS = Loacl_V1_AssistantService.Method
typealias SS = Loacl_V1_SessionService.Method
typealias TS = Loacl_V1_ThreadService.Method
typealias MS = Loacl_V1_MessageService.Method
typealias FS = Loacl_V1_FileService.Method
typealias GS = Loacl_V1_GuidedQuestionService.Method
typealias FUS = Loacl_V1_FollowUpService.Method
typealias US = Loacl_V1_UsageService.Method

extension Harness {
    func createAssistant(_ tenant: Caller, name: String = "Helper", configure: (inout Loacl_V1_CreateAssistantRequest) -> Void = { _ in }) async throws -> Loacl_V1_Assistant {
        var request = Loacl_V1_CreateAssistantRequest()
        request.name = name
        request.instructions = "Be brief."
        configure(&request)
        let response: Loacl_V1_CreateAssistantResponse = try await call(AS.createAssistant, request, as: tenant)
        return response.assistant
    }

    func startGuest(_ assistantID: String, fingerprint: String = "fp-" + UUID().uuidString) async throws -> (Caller, Loacl_V1_Session) {
        var request = Loacl_V1_StartGuestSessionRequest()
        request.assistantID = assistantID
        request.fingerprint = fingerprint
        let response: Loacl_V1_StartSessionResponse = try await call(SS.startGuestSession, request, as: .anonymous)
        return (.session(response.sessionToken), response.session)
    }

    func startUser(_ assistantID: String, userID: String = UUID().uuidString.lowercased(), expiresIn: TimeInterval = 3600) async throws -> (Caller, Loacl_V1_Session) {
        var request = Loacl_V1_StartAuthenticatedSessionRequest()
        request.assistantID = assistantID
        request.jwt = Self.jwt(sub: userID, expiresIn: expiresIn)
        let response: Loacl_V1_StartSessionResponse = try await call(SS.startAuthenticatedSession, request, as: .anonymous)
        return (.session(response.sessionToken), response.session)
    }

    static func jwt(sub: String, expiresIn: TimeInterval) -> String {
        let exp = Int(Date().timeIntervalSince1970 + expiresIn)
        return JWTVerifier.sign(claims: #"{"sub":"\#(sub)","exp":\#(exp),"role":"authenticated"}"#, secret: Array(jwtSecret.utf8))
    }

    func createThread(_ session: Caller, title: String = "") async throws -> Loacl_V1_Thread {
        var request = Loacl_V1_CreateThreadRequest()
        request.title = title
        let response: Loacl_V1_CreateThreadResponse = try await call(TS.createThread, request, as: session)
        return response.thread
    }

    /// Sends a message and collects the events.
    func send(_ session: Caller, thread: String, _ text: String, fileIDs: [String] = []) async throws -> [Loacl_V1_SendMessageEvent] {
        var request = Loacl_V1_SendMessageRequest()
        request.threadID = thread
        request.content = text
        request.fileIds = fileIDs
        return try await client.serverStreaming(MS.sendMessage, request, options: CallOptions(timeout: .seconds(20), metadata: session.metadata),
                                                responseType: Loacl_V1_SendMessageEvent.self) { stream in
            var events: [Loacl_V1_SendMessageEvent] = []
            for try await event in stream { events.append(event) }
            return events
        }
    }

    func upload(_ session: Caller, thread: String, name: String = "notes.txt", type: String = "text/plain", bytes: [UInt8],
                declared: UInt64? = nil, chunk: Int = 1000) async throws -> Loacl_V1_File {
        let response = try await client.clientStreaming(
            FS.uploadFile, options: CallOptions(timeout: .seconds(20), metadata: session.metadata),
            requestType: Loacl_V1_UploadFileRequest.self, responseType: Loacl_V1_UploadFileResponse.self
        ) { writer in
            var header = Loacl_V1_UploadFileHeader()
            header.threadID = thread
            header.filename = name
            header.fileType = type
            header.declaredSize = declared ?? UInt64(bytes.count)
            var first = Loacl_V1_UploadFileRequest()
            first.header = header
            try await writer.write(first)
            var offset = 0
            while offset < bytes.count {
                var part = Loacl_V1_UploadFileRequest()
                part.chunk = Array(bytes[offset..<min(offset + chunk, bytes.count)])
                try await writer.write(part)
                offset += chunk
            }
        }
        return response.file
    }

    func download(_ session: Caller, id: String) async throws -> (Loacl_V1_File, [UInt8]) {
        var request = Loacl_V1_DownloadFileRequest()
        request.id = id
        return try await client.serverStreaming(FS.downloadFile, request, options: CallOptions(timeout: .seconds(20), metadata: session.metadata),
                                                responseType: Loacl_V1_DownloadFileResponse.self) { stream in
            var file = Loacl_V1_File()
            var bytes: [UInt8] = []
            for try await part in stream {
                switch part.part {
                case .file(let f)?: file = f
                case .chunk(let c)?: bytes += c
                case nil: break
                }
            }
            return (file, bytes)
        }
    }

    /// Files stored under the storage root (excluding partial uploads in progress).
    func storedFiles() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: storageRoot) else { return [] }
        var files: [String] = []
        while let path = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: storageRoot + "/" + path, isDirectory: &isDirectory)
            if !isDirectory.boolValue { files.append(path) }
        }
        return files
    }
}

/// Expects the call to fail with `code`.
/// The RPC error a call fails with (nil when it succeeds or fails otherwise).
func refusal(_ body: () async throws -> Void) async -> RPCError? {
    do { try await body(); return nil } catch { return error as? RPCError }
}

func expectCode(_ code: StatusCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code.name), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code.name), got \(error)", sourceLocation: sourceLocation)
    }
}

func request<M: ProtoMessage>(_ type: M.Type = M.self, _ configure: (inout M) -> Void) -> M {
    var message = M()
    configure(&message)
    return message
}
