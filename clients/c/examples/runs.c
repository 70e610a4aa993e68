/* loacl-runs-example: follows or stops a run (a reply being written) from any server.
 *
 *   loacl-runs-example [TLS options] [--timeout-ms N] --token TOKEN follow RUN_ID [AFTER] TARGET
 *   loacl-runs-example [TLS options] [--timeout-ms N] --token TOKEN cancel RUN_ID TARGET
 *
 * follow: MessageService/StreamRun from event AFTER on (default 0): the reply text on stdout as
 *         it arrives, then "run <id>: <status> (<n> events)"; events are checked to be numbered
 *         AFTER+1, AFTER+2, ... without gaps.
 * cancel: MessageService/CancelRun: prints "run <id>: <status>".
 * Exit 2 on an RPC error, 3 on a gap in the sequence numbers. */
#include <inttypes.h>
#include <stdint.h>

#include "common.h"
#include "loacl/v1/message.pb-c.h"
#include "loacl/v1/run.pb-c.h"

static const char *status_name(Loacl__V1__RunStatus status) {
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&loacl__v1__run_status__descriptor, status);
    return v ? v->name + strlen("RUN_STATUS_") : "?";
}

static int follow(loacl_client *c, const loacl_call_options *o, const char *run_id, uint64_t after) {
    Loacl__V1__StreamRunRequest req;
    loacl__v1__stream_run_request__init(&req);
    req.run_id = (char *)run_id;
    req.after_sequence = after;
    loacl_call *call = loacl_call_start(c, "/loacl.v1.MessageService/StreamRun", &req.base,
                                        &loacl__v1__send_message_event__descriptor, o);
    if (!call) return 2;
    int rc = 0;
    uint64_t expected = after + 1, events = 0;
    Loacl__V1__RunStatus final = LOACL__V1__RUN_STATUS__RUN_STATUS_UNSPECIFIED;
    ProtobufCMessage *m;
    while (loacl_call_next(call, &m) == 1) {
        Loacl__V1__SendMessageEvent *e = (Loacl__V1__SendMessageEvent *)m;
        if (e->sequence_number != expected) {
            fprintf(stderr, "error: event %" PRIu64 " where %" PRIu64 " was due\n", e->sequence_number, expected);
            rc = 3;
        }
        expected = e->sequence_number + 1;
        events++;
        if (e->event_case == LOACL__V1__SEND_MESSAGE_EVENT__EVENT_DELTA) {
            fputs(e->delta->text, stdout);
            fflush(stdout);
        } else if (e->event_case == LOACL__V1__SEND_MESSAGE_EVENT__EVENT_RUN) {
            final = e->run->status;
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    const loacl_status *st = loacl_call_status(call);
    if (st->code != LOACL_OK) {
        print_status_error("/loacl.v1.MessageService/StreamRun", st);
        rc = 2;
    } else {
        printf("\nrun %s: %s (%" PRIu64 " events)\n", run_id, status_name(final), events);
    }
    loacl_call_free(call);
    return rc;
}

static int cancel(loacl_client *c, const loacl_call_options *o, const char *run_id) {
    Loacl__V1__CancelRunRequest req;
    loacl__v1__cancel_run_request__init(&req);
    req.run_id = (char *)run_id;
    ProtobufCMessage *resp;
    loacl_status st;
    int code = loacl_unary(c, "/loacl.v1.MessageService/CancelRun", &req.base, &loacl__v1__cancel_run_response__descriptor,
                           &resp, o, &st);
    if (code != LOACL_OK) {
        print_status_error("/loacl.v1.MessageService/CancelRun", &st);
        loacl_status_clear(&st);
        return 2;
    }
    Loacl__V1__CancelRunResponse *r = (Loacl__V1__CancelRunResponse *)resp;
    printf("run %s: %s\n", run_id, r->run ? status_name(r->run->status) : "?");
    protobuf_c_message_free_unpacked(resp, NULL);
    loacl_status_clear(&st);
    return 0;
}

int main(int argc, char **argv) {
    loacl_connect_options opts = { 0 };
    uint64_t timeout_ms = 60000, after = 0;
    const char *token = NULL, *verb = NULL, *run_id = NULL, *target = NULL;
    const char *rest[3] = { 0 };
    int n_rest = 0;
    for (int i = 1; i < argc; i++) {
        if (parse_tls_option(argc, argv, &i, &opts)) continue;
        if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) timeout_ms = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc) token = argv[++i];
        else if (!verb) verb = argv[i];
        else if (!run_id) run_id = argv[i];
        else if (n_rest < 3) rest[n_rest++] = argv[i];
    }
    int following = verb && strcmp(verb, "follow") == 0, cancelling = verb && strcmp(verb, "cancel") == 0;
    if (following && n_rest == 2) { after = strtoull(rest[0], NULL, 10); target = rest[1]; }
    else if (n_rest == 1) target = rest[0];
    if (!token || !run_id || !target || !(following || cancelling)) {
        fprintf(stderr, "usage: %s [--ca F] [--cert F --key F] [--server-name N] [--timeout-ms N] --token TOKEN\n"
                        "       (follow RUN_ID [AFTER] | cancel RUN_ID) TARGET\n", argv[0]);
        return 64;
    }
    loacl_client *c;
    char *error;
    if (loacl_connect(target, &opts, &c, &error) != 0) {
        fprintf(stderr, "error: %s\n", error);
        free(error);
        return 2;
    }
    loacl_metadata_entry auth[] = { { "x-loacl-session-token", token, 0 } };
    loacl_call_options o = { .timeout_ms = timeout_ms, .metadata = auth, .metadata_count = 1 };
    int rc = following ? follow(c, &o, run_id, after) : cancel(c, &o, run_id);
    loacl_close(c);
    return rc;
}
