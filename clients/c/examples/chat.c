/* loacl-chat-example: starts a guest session, sends one message and prints the streamed reply
 * as it arrives.
 *
 *   loacl-chat-example [TLS options] [--timeout-ms N]
 *                      (--assistant ID | --api-key KEY | --token TOKEN [--thread ID]) TARGET MESSAGE
 *
 *   --assistant ID   talk to this assistant (a new guest session and thread)
 *   --api-key KEY    first create an assistant with the offline provider for this tenant key
 *   --token TOKEN    reuse a session token (e.g. one a Python client started); --thread picks its thread
 *
 * stdout: the reply text, then "follow-up: ..." lines; stderr: progress. Exit 2 on an RPC error. */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "loacl/v1/assistant.pb-c.h"
#include "loacl/v1/message.pb-c.h"
#include "loacl/v1/run.pb-c.h"
#include "loacl/v1/session.pb-c.h"
#include "loacl/v1/thread.pb-c.h"

static int unary(loacl_client *c, const char *method, const ProtobufCMessage *req, const ProtobufCMessageDescriptor *type,
                 ProtobufCMessage **resp, const loacl_metadata_entry *md, size_t n_md, uint64_t timeout_ms) {
    loacl_call_options o = { .timeout_ms = timeout_ms, .metadata = md, .metadata_count = n_md };
    loacl_status st;
    int code = loacl_unary(c, method, req, type, resp, &o, &st);
    if (code != LOACL_OK) print_status_error(method, &st);
    loacl_status_clear(&st);
    return code;
}

int main(int argc, char **argv) {
    loacl_connect_options opts = { 0 };
    uint64_t timeout_ms = 60000;
    const char *assistant = NULL, *api_key = NULL, *token_arg = NULL, *thread_arg = NULL, *target = NULL, *text = NULL;
    for (int i = 1; i < argc; i++) {
        if (parse_tls_option(argc, argv, &i, &opts)) continue;
        if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) timeout_ms = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--assistant") == 0 && i + 1 < argc) assistant = argv[++i];
        else if (strcmp(argv[i], "--api-key") == 0 && i + 1 < argc) api_key = argv[++i];
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) token_arg = argv[++i];
        else if (strcmp(argv[i], "--thread") == 0 && i + 1 < argc) thread_arg = argv[++i];
        else if (!target) target = argv[i];
        else if (!text) text = argv[i];
    }
    if (!target || !text || !(assistant || api_key || token_arg)) {
        fprintf(stderr, "usage: %s [--ca F] [--cert F --key F] [--server-name N] [--timeout-ms N]\n"
                        "       (--assistant ID | --api-key KEY | --token TOKEN [--thread ID]) TARGET MESSAGE\n", argv[0]);
        return 64;
    }

    loacl_client *c;
    char *error;
    if (loacl_connect(target, &opts, &c, &error) != 0) {
        fprintf(stderr, "error: %s\n", error);
        free(error);
        return 2;
    }
    int rc = 2;
    ProtobufCMessage *resp = NULL;
    char *assistant_id = assistant ? strdup(assistant) : NULL, *token = token_arg ? strdup(token_arg) : NULL;
    char *thread_id = thread_arg ? strdup(thread_arg) : NULL;

    if (!token && api_key) { /* a tenant's assistant with the offline provider */
        Loacl__V1__AssistantConfiguration config;
        loacl__v1__assistant_configuration__init(&config);
        config.provider = "offline";
        Loacl__V1__CreateAssistantRequest req;
        loacl__v1__create_assistant_request__init(&req);
        req.name = "C example assistant";
        req.instructions = "Answer briefly.";
        req.configuration = &config;
        loacl_metadata_entry md[] = { { "x-loacl-api-key", api_key, 0 } };
        if (unary(c, "/loacl.v1.AssistantService/CreateAssistant", &req.base, &loacl__v1__create_assistant_response__descriptor,
                  &resp, md, 1, timeout_ms) != LOACL_OK) goto done;
        assistant_id = strdup(((Loacl__V1__CreateAssistantResponse *)resp)->assistant->id);
        protobuf_c_message_free_unpacked(resp, NULL);
        fprintf(stderr, "assistant: %s\n", assistant_id);
    }
    if (!token) { /* a guest session for a throwaway device fingerprint */
        char fingerprint[64];
        snprintf(fingerprint, sizeof fingerprint, "c-example-%ld-%ld", (long)getpid(), (long)time(NULL));
        Loacl__V1__StartGuestSessionRequest req;
        loacl__v1__start_guest_session_request__init(&req);
        req.assistant_id = assistant_id;
        req.fingerprint = fingerprint;
        if (unary(c, "/loacl.v1.SessionService/StartGuestSession", &req.base, &loacl__v1__start_session_response__descriptor,
                  &resp, NULL, 0, timeout_ms) != LOACL_OK) goto done;
        Loacl__V1__StartSessionResponse *started = (Loacl__V1__StartSessionResponse *)resp;
        token = strdup(started->session_token);
        fprintf(stderr, "session: %s\n", started->session ? started->session->id : "?");
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    fprintf(stderr, "token: %s\n", token); /* to follow the run from elsewhere (loacl-runs-example) */
    loacl_metadata_entry auth[] = { { "x-loacl-session-token", token, 0 } };
    if (!thread_id) {
        Loacl__V1__CreateThreadRequest req;
        loacl__v1__create_thread_request__init(&req);
        req.title = "C example";
        if (unary(c, "/loacl.v1.ThreadService/CreateThread", &req.base, &loacl__v1__create_thread_response__descriptor,
                  &resp, auth, 1, timeout_ms) != LOACL_OK) goto done;
        thread_id = strdup(((Loacl__V1__CreateThreadResponse *)resp)->thread->id);
        protobuf_c_message_free_unpacked(resp, NULL);
        fprintf(stderr, "thread: %s\n", thread_id);
    }

    Loacl__V1__SendMessageRequest send;
    loacl__v1__send_message_request__init(&send);
    send.thread_id = thread_id;
    send.content = (char *)text;
    loacl_call_options o = { .timeout_ms = timeout_ms, .metadata = auth, .metadata_count = 1 };
    loacl_call *call = loacl_call_start(c, "/loacl.v1.MessageService/SendMessage", &send.base,
                                        &loacl__v1__send_message_event__descriptor, &o);
    if (!call) goto done;
    ProtobufCMessage *m;
    while (loacl_call_next(call, &m) == 1) {
        Loacl__V1__SendMessageEvent *e = (Loacl__V1__SendMessageEvent *)m;
        switch (e->event_case) {
        case LOACL__V1__SEND_MESSAGE_EVENT__EVENT_USER_MESSAGE:
            fprintf(stderr, "you: %s\n", e->user_message->content);
            break;
        case LOACL__V1__SEND_MESSAGE_EVENT__EVENT_DELTA: /* print as it arrives */
            fputs(e->delta->text, stdout);
            fflush(stdout);
            break;
        case LOACL__V1__SEND_MESSAGE_EVENT__EVENT_ASSISTANT_MESSAGE:
            printf("\n");
            fprintf(stderr, "reply stored: %s (%u tokens)\n", e->assistant_message->id, e->assistant_message->tokens_used);
            break;
        case LOACL__V1__SEND_MESSAGE_EVENT__EVENT_RUN: /* the reply is a run: resumable by id */
            if (e->run->status == LOACL__V1__RUN_STATUS__RUN_STATUS_IN_PROGRESS && e->sequence_number == 1)
                fprintf(stderr, "run: %s\n", e->run_id);
            break;
        case LOACL__V1__SEND_MESSAGE_EVENT__EVENT_FOLLOW_UPS:
            for (size_t i = 0; i < e->follow_ups->n_suggestions; i++) printf("follow-up: %s\n", e->follow_ups->suggestions[i]->suggestion);
            break;
        default:
            break;
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    const loacl_status *st = loacl_call_status(call);
    if (st->code == LOACL_OK) rc = 0;
    else print_status_error("/loacl.v1.MessageService/SendMessage", st);
    loacl_call_free(call);
done:
    free(assistant_id);
    free(token);
    free(thread_id);
    loacl_close(c);
    return rc;
}
