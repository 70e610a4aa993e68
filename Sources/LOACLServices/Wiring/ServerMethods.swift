import LOACLServerCore

// Each service implements its generated handler protocol; the generated `serverMethods`
// build the dispatch table.
extension AssistantService: Loacl_V1_AssistantServiceHandler {}
extension SessionService: Loacl_V1_SessionServiceHandler {}
extension ThreadService: Loacl_V1_ThreadServiceHandler {}
extension MessageService: Loacl_V1_MessageServiceHandler {}
extension FileService: Loacl_V1_FileServiceHandler {}
extension GuidedQuestionService: Loacl_V1_GuidedQuestionServiceHandler {}
extension FollowUpService: Loacl_V1_FollowUpServiceHandler {}
extension UsageService: Loacl_V1_UsageServiceHandler {}

extension DataServices {
    /// Every method of every data service.
    public var methods: [ServerMethod] {
        assistants.serverMethods + sessions.serverMethods + threads.serverMethods + messages.serverMethods
            + files.serverMethods + guidedQuestions.serverMethods + followUps.serverMethods + usage.serverMethods
    }
}
