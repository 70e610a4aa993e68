/* loacl-echo-example: calls loacl.v1.BenchmarkService/UnaryCall (and HealthService/Check).
 *
 *   loacl-echo-example [--ca F] [--cert F --key F] [--server-name N] [--timeout-ms N]
 *                      [--method /pkg.Service/Method] TARGET TEXT
 *
 * Prints "echo: TEXT" and the server's health; exit 0 on success, 2 on an RPC error. */
#include <stdint.h>

#include "common.h"
#include "loacl/v1/benchmark.pb-c.h"
#include "loacl/v1/health.pb-c.h"

int main(int argc, char **argv) {
    loacl_connect_options opts = { 0 };
    const char *method = "/loacl.v1.BenchmarkService/UnaryCall";
    uint64_t timeout_ms = 10000;
    const char *target = NULL, *text = NULL;
    for (int i = 1; i < argc; i++) {
        if (parse_tls_option(argc, argv, &i, &opts)) continue;
        if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) timeout_ms = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--method") == 0 && i + 1 < argc) method = argv[++i];
        else if (!target) target = argv[i];
        else if (!text) text = argv[i];
    }
    if (!target || !text) {
        fprintf(stderr, "usage: %s [--ca F] [--cert F --key F] [--server-name N] [--timeout-ms N] [--method M] TARGET TEXT\n", argv[0]);
        return 64;
    }

    loacl_client *client;
    char *error;
    if (loacl_connect(target, &opts, &client, &error) != 0) {
        fprintf(stderr, "error: %s\n", error);
        free(error);
        return 2;
    }

    Loacl__V1__BenchmarkRequest request;
    loacl__v1__benchmark_request__init(&request);
    request.payload.data = (uint8_t *)text;
    request.payload.len = strlen(text);
    loacl_metadata_entry md[] = { { "x-example", "loacl-echo-example", 0 }, { "x-raw-bin", "\x01\x02", 2 } };
    loacl_call_options call_opts = { .timeout_ms = timeout_ms, .metadata = md, .metadata_count = 2 };

    ProtobufCMessage *reply;
    loacl_status status;
    int rc = 0;
    if (loacl_unary(client, method, &request.base, &loacl__v1__benchmark_response__descriptor, &reply, &call_opts, &status) == LOACL_OK) {
        Loacl__V1__BenchmarkResponse *echo = (Loacl__V1__BenchmarkResponse *)reply;
        printf("echo: %.*s\n", (int)echo->payload.len, (const char *)echo->payload.data);
        protobuf_c_message_free_unpacked(reply, NULL);
    } else {
        print_status_error(method, &status);
        rc = 2;
    }
    loacl_status_clear(&status);

    if (rc == 0) {
        Loacl__V1__HealthCheckRequest hreq;
        loacl__v1__health_check_request__init(&hreq);
        loacl_call_options hopts = { .timeout_ms = timeout_ms };
        if (loacl_unary(client, "/loacl.v1.HealthService/Check", &hreq.base, &loacl__v1__health_check_response__descriptor,
                        &reply, &hopts, &status) == LOACL_OK) {
            Loacl__V1__HealthCheckResponse *h = (Loacl__V1__HealthCheckResponse *)reply;
            printf("health: %s version %s\n", h->status == LOACL__V1__SERVING_STATUS__SERVING_STATUS_SERVING ? "SERVING" : "NOT_SERVING", h->version);
            protobuf_c_message_free_unpacked(reply, NULL);
        } else {
            print_status_error("HealthService/Check", &status);
            rc = 2;
        }
        loacl_status_clear(&status);
        double rtt = loacl_ping(client, 5000);
        if (rtt < 0) { fprintf(stderr, "error: PING failed\n"); rc = 2; }
        else printf("ping: ok\n");
    }
    loacl_close(client);
    return rc;
}
