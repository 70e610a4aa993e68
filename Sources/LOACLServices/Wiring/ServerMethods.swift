import LOACLMessages
import LOACLServer

// The dispatch table of the data services. (Hand-written until the generated
// `Loacl_V1_*ServiceHandler.serverMethods` land; the handler signatures already match them.)
extension DataServices {
    public var methods: [ServerMethod] {
        let a = assistants, s = sessions, t = threads, m = messages, f = files, g = guidedQuestions, u = followUps, us = usage
        typealias AS = Loacl_V1_AssistantService.Method
        typealias SS = Loacl_V1_SessionService.Method
        typealias TS = Loacl_V1_ThreadService.Method
        typealias MS = Loacl_V1_MessageService.Method
        typealias FS = Loacl_V1_FileService.Method
        typealias GS = Loacl_V1_GuidedQuestionService.Method
        typealias US = Loacl_V1_FollowUpService.Method
        return [
            .unary(AS.createAssistant) { try await a.createAssistant($0, context: $1) },
            .unary(AS.getAssistant) { try await a.getAssistant($0, context: $1) },
            .unary(AS.listAssistants) { try await a.listAssistants($0, context: $1) },
            .unary(AS.updateAssistant) { try await a.updateAssistant($0, context: $1) },
            .unary(AS.deleteAssistant) { try await a.deleteAssistant($0, context: $1) },
            .unary(SS.startGuestSession) { try await s.startGuestSession($0, context: $1) },
            .unary(SS.startAuthenticatedSession) { try await s.startAuthenticatedSession($0, context: $1) },
            .unary(SS.getSession) { try await s.getSession($0, context: $1) },
            .unary(SS.refreshSession) { try await s.refreshSession($0, context: $1) },
            .unary(SS.endSession) { try await s.endSession($0, context: $1) },
            .unary(TS.createThread) { try await t.createThread($0, context: $1) },
            .unary(TS.getThread) { try await t.getThread($0, context: $1) },
            .unary(TS.listThreads) { try await t.listThreads($0, context: $1) },
            .unary(TS.updateThread) { try await t.updateThread($0, context: $1) },
            .unary(TS.archiveThread) { try await t.archiveThread($0, context: $1) },
            .unary(TS.deleteThread) { try await t.deleteThread($0, context: $1) },
            .serverStreaming(MS.sendMessage) { try await m.sendMessage($0, responses: $1, context: $2) },
            .unary(MS.listMessages) { try await m.listMessages($0, context: $1) },
            .unary(MS.getMessage) { try await m.getMessage($0, context: $1) },
            .clientStreaming(FS.uploadFile) { try await f.uploadFile($0, context: $1) },
            .serverStreaming(FS.downloadFile) { try await f.downloadFile($0, responses: $1, context: $2) },
            .unary(FS.getFile) { try await f.getFile($0, context: $1) },
            .unary(FS.listFiles) { try await f.listFiles($0, context: $1) },
            .unary(FS.deleteFile) { try await f.deleteFile($0, context: $1) },
            .unary(GS.createGuidedQuestion) { try await g.createGuidedQuestion($0, context: $1) },
            .unary(GS.listGuidedQuestions) { try await g.listGuidedQuestions($0, context: $1) },
            .unary(GS.updateGuidedQuestion) { try await g.updateGuidedQuestion($0, context: $1) },
            .unary(GS.deleteGuidedQuestion) { try await g.deleteGuidedQuestion($0, context: $1) },
            .unary(US.listFollowUpSuggestions) { try await u.listFollowUpSuggestions($0, context: $1) },
            .unary(US.markFollowUpUsed) { try await u.markFollowUpUsed($0, context: $1) },
            .unary(Loacl_V1_UsageService.Method.getUsage) { try await us.getUsage($0, context: $1) },
        ]
    }
}
