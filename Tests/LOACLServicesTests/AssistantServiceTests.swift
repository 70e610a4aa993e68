import LOACLCore
import LOACLMessages
import Testing

@Suite("AssistantService over a real socket")
struct AssistantServiceTests {
    @Test func createGetListUpdateDelete() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            let created = try await h.createAssistant(tenant, name: "Support") { r in
                r.configuration.model = "gpt-4.1-mini"
                r.configuration.temperature = request(Loacl_V1_DoubleValue.self) { $0.value = 0.5 }
                r.configuration.guestSessionTtlSeconds = 3600
                r.toolsEnabled = ["file_search"]
                r.metadataJson = #"{"team":"a"}"#
                r.externalID = "asst_123"
            }
            #expect(created.name == "Support")
            #expect(created.configuration.model == "gpt-4.1-mini")
            #expect(created.configuration.temperature.value == 0.5)
            #expect(created.configuration.guestSessionTtlSeconds == 3600)
            #expect(created.toolsEnabled == ["file_search"])
            #expect(created.externalID == "asst_123")
            #expect(created.createdAtMs > 1_700_000_000_000)

            let got: Loacl_V1_GetAssistantResponse = try await h.call(AS.getAssistant, request(Loacl_V1_GetAssistantRequest.self) { $0.id = created.id }, as: tenant)
            #expect(got.assistant == created)

            for i in 0..<4 { _ = try await h.createAssistant(tenant, name: "Extra \(i)") }
            var seen: [String] = []
            var token = ""
            repeat {
                let page: Loacl_V1_ListAssistantsResponse = try await h.call(AS.listAssistants, request(Loacl_V1_ListAssistantsRequest.self) {
                    $0.pageSize = 2
                    $0.pageToken = token
                }, as: tenant)
                #expect(page.assistants.count <= 2)
                seen += page.assistants.map(\.id)
                token = page.nextPageToken
            } while !token.isEmpty
            #expect(seen.count == 5 && Set(seen).count == 5)
            #expect(seen.last == created.id, "newest first")

            let updated: Loacl_V1_UpdateAssistantResponse = try await h.call(AS.updateAssistant, request(Loacl_V1_UpdateAssistantRequest.self) {
                $0.id = created.id
                $0.assistant.name = "Renamed"
                $0.assistant.instructions = "ignored: not in mask"
                $0.updateMask = ["name"]
            }, as: tenant)
            #expect(updated.assistant.name == "Renamed")
            #expect(updated.assistant.instructions == "Be brief.")

            let _: Loacl_V1_DeleteAssistantResponse = try await h.call(AS.deleteAssistant, request(Loacl_V1_DeleteAssistantRequest.self) { $0.id = created.id }, as: tenant)
            await expectCode(.notFound) {
                let _: Loacl_V1_GetAssistantResponse = try await h.call(AS.getAssistant, request(Loacl_V1_GetAssistantRequest.self) { $0.id = created.id }, as: tenant)
            }
            await expectCode(.notFound) {
                let _: Loacl_V1_DeleteAssistantResponse = try await h.call(AS.deleteAssistant, request(Loacl_V1_DeleteAssistantRequest.self) { $0.id = created.id }, as: tenant)
            }
        }
    }

    @Test func validationAndCredentials() async throws {
        try await withHarness { h in
            let tenant = Caller.newTenant()
            func create(_ caller: Caller, _ configure: (inout Loacl_V1_CreateAssistantRequest) -> Void) async -> StatusCode? {
                var r = Loacl_V1_CreateAssistantRequest()
                r.name = "ok"
                configure(&r)
                return await h.code(AS.createAssistant, r, as: caller, Loacl_V1_CreateAssistantResponse.self)
            }
            #expect(await create(.anonymous) { _ in } == .unauthenticated)
            #expect(await create(.tenant("short")) { _ in } == .unauthenticated)
            #expect(await create(.tenant("sk with spaces inside")) { _ in } == .unauthenticated)
            #expect(await create(tenant) { $0.name = "" } == .invalidArgument)
            #expect(await create(tenant) { $0.name = String(repeating: "x", count: 201) } == .invalidArgument)
            #expect(await create(tenant) { $0.metadataJson = "[1,2]" } == .invalidArgument)
            #expect(await create(tenant) { $0.metadataJson = "{" } == .invalidArgument)
            #expect(await create(tenant) { $0.metadataJson = #"{"a":""# + String(repeating: "x", count: 17000) + #""}"# } == .invalidArgument)
            #expect(await create(tenant) { $0.toolsEnabled = ["Bad-Tool"] } == .invalidArgument)
            #expect(await create(tenant) { $0.configuration.provider = "nope" } == .invalidArgument)
            #expect(await create(tenant) { $0.configuration.guestSessionTtlSeconds = 5 } == .invalidArgument)
            #expect(await create(tenant) { $0.configuration.temperature = request(Loacl_V1_DoubleValue.self) { $0.value = 3 } } == .invalidArgument)
            #expect(await create(tenant) { $0.configuration.followUpCount = request(Loacl_V1_UInt32Value.self) { $0.value = 9 } } == .invalidArgument)

            let assistant = try await h.createAssistant(tenant)
            #expect(await h.code(AS.updateAssistant, request(Loacl_V1_UpdateAssistantRequest.self) { $0.id = assistant.id },
                                 as: tenant, Loacl_V1_UpdateAssistantResponse.self) == .invalidArgument)
            #expect(await h.code(AS.updateAssistant, request(Loacl_V1_UpdateAssistantRequest.self) {
                $0.id = assistant.id
                $0.updateMask = ["tenant_id"]
            }, as: tenant, Loacl_V1_UpdateAssistantResponse.self) == .invalidArgument)
            #expect(await h.code(AS.getAssistant, request(Loacl_V1_GetAssistantRequest.self) { $0.id = "not-a-uuid" },
                                 as: tenant, Loacl_V1_GetAssistantResponse.self) == .invalidArgument)
            #expect(await h.code(AS.listAssistants, request(Loacl_V1_ListAssistantsRequest.self) { $0.pageSize = 201 },
                                 as: tenant, Loacl_V1_ListAssistantsResponse.self) == .invalidArgument)
            #expect(await h.code(AS.listAssistants, request(Loacl_V1_ListAssistantsRequest.self) { $0.pageToken = "garbage!" },
                                 as: tenant, Loacl_V1_ListAssistantsResponse.self) == .invalidArgument)

            // Both kinds of credentials at once.
            let (session, _) = try await h.startGuest(assistant.id)
            guard case .session(let token) = session, case .tenant(let key) = tenant else { return }
            await expectCode(.unauthenticated) {
                _ = try await h.client.unary(
                    AS.listAssistants, Loacl_V1_ListAssistantsRequest(),
                    options: .init(metadata: ["x-loacl-api-key": .text(key), "x-loacl-session-token": .text(token)]),
                    responseType: Loacl_V1_ListAssistantsResponse.self)
            }
        }
    }
}
