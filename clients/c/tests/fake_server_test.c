/* Unit tests of the C client against a scripted fake server (a thread on a loopback port):
 * server streaming, deadlines (timeout_ms sent, enforced locally with CANCEL), status and
 * metadata from HEADERS/TRAILERS, PING answered mid-call, GOAWAY. Prints "N passed, N failed". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loacl/v1/benchmark.pb-c.h"
#include "loacl/wire/v1/wire.pb-c.h"
#include "loacl_client.h"

static int passed, failed;
#define CHECK(cond) do { if (cond) passed++; else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

/* ---- fake server plumbing ---- */
typedef struct { int listen_fd, fd, port; void (*script)(int fd); } fake_t;

static int read_exact(int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) { ssize_t r = recv(fd, buf + got, n - got, 0); if (r <= 0) return -1; got += (size_t)r; }
    return 0;
}
static uint32_t u32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3]; }

/* Reads one frame (skipping WINDOW_UPDATEs); returns its type, payload malloc'd in *payload. */
static int frame_in(int fd, uint8_t *flags, uint32_t *stream, uint8_t **payload, size_t *len) {
    for (;;) {
        uint8_t h[10];
        if (read_exact(fd, h, 10) < 0) return -1;
        *len = u32(h);
        *payload = malloc(*len + 1);
        if (*len && read_exact(fd, *payload, *len) < 0) { free(*payload); return -1; }
        *flags = h[5];
        *stream = u32(h + 6);
        if (h[4] != 5) return h[4];
        free(*payload);
    }
}
static void frame_out(int fd, uint8_t type, uint8_t flags, uint32_t stream, const void *p, size_t n) {
    uint8_t h[10] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n, type, flags,
                      (uint8_t)(stream >> 24), (uint8_t)(stream >> 16), (uint8_t)(stream >> 8), (uint8_t)stream };
    send(fd, h, 10, MSG_NOSIGNAL);
    if (n) send(fd, p, n, MSG_NOSIGNAL);
}
static void send_packed(int fd, uint8_t type, uint32_t stream, const ProtobufCMessage *m) {
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n + 1);
    protobuf_c_message_pack(m, b);
    frame_out(fd, type, 0, stream, b, n);
    free(b);
}

/* Reads until the client closes (closing with unread bytes would reset the connection). */
static void drain(int fd) {
    uint8_t b[4096];
    while (recv(fd, b, sizeof b, 0) > 0) {}
}

static void *fake_main(void *arg) {
    fake_t *f = arg;
    f->fd = accept(f->listen_fd, NULL, NULL);
    uint8_t preface[8];
    if (f->fd >= 0 && read_exact(f->fd, preface, 8) == 0 && memcmp(preface, "LOACL/1\n", 8) == 0) {
        send(f->fd, "LOACL/1\n", 8, MSG_NOSIGNAL);
        f->script(f->fd);
    }
    if (f->fd >= 0) close(f->fd);
    return NULL;
}

static int run_fake(void (*script)(int), void (*client)(const char *target)) {
    fake_t f = { .script = script };
    f.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof sa;
    bind(f.listen_fd, (struct sockaddr *)&sa, sizeof sa);
    listen(f.listen_fd, 1);
    getsockname(f.listen_fd, (struct sockaddr *)&sa, &sl);
    char target[64];
    snprintf(target, sizeof target, "tcp:127.0.0.1:%d", ntohs(sa.sin_port));
    pthread_t t;
    pthread_create(&t, NULL, fake_main, &f);
    client(target);
    pthread_join(t, NULL);
    close(f.listen_fd);
    return 0;
}

static loacl_client *connect_or_die(const char *target) {
    loacl_client *c;
    char *err;
    if (loacl_connect(target, NULL, &c, &err) != 0) { fprintf(stderr, "connect: %s\n", err); free(err); exit(1); }
    return c;
}

static ProtobufCMessage *bench_request(Loacl__V1__BenchmarkRequest *r, const char *text) {
    loacl__v1__benchmark_request__init(r);
    r->payload.data = (uint8_t *)text;
    r->payload.len = strlen(text);
    return &r->base;
}

/* ---- 1. server streaming: three messages, then OK with trailing metadata ---- */
static void stream_script(int fd) {
    uint8_t flags, *p; uint32_t s; size_t n;
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 1);
    Loacl__Wire__V1__CallHeaders *h = loacl__wire__v1__call_headers__unpack(NULL, n, p);
    CHECK(h && strcmp(h->method, "/loacl.v1.BenchmarkService/StreamingCall") == 0);
    CHECK(h && h->n_metadata == 2 && strcmp(h->metadata[0]->value, "text") == 0 && h->metadata[1]->binary_value.len == 3);
    if (h) loacl__wire__v1__call_headers__free_unpacked(h, NULL);
    free(p);
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 2 && (flags & 1));
    free(p);
    frame_out(fd, 6, 0, 0, "pingpong", 8); /* a PING mid-call must be answered */
    for (int i = 0; i < 3; i++) {
        Loacl__V1__BenchmarkResponse r;
        loacl__v1__benchmark_response__init(&r);
        char text[16];
        snprintf(text, sizeof text, "m%d", i);
        r.payload.data = (uint8_t *)text;
        r.payload.len = strlen(text);
        send_packed(fd, 2, s, &r.base);
    }
    uint32_t call_stream = s;
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 6 && (flags & 2) && n == 8 && memcmp(p, "pingpong", 8) == 0);
    free(p);
    s = call_stream;
    Loacl__Wire__V1__MetadataEntry e;
    loacl__wire__v1__metadata_entry__init(&e);
    e.key = "x-count";
    e.value = "3";
    Loacl__Wire__V1__MetadataEntry *ep = &e;
    Loacl__Wire__V1__CallStatus st;
    loacl__wire__v1__call_status__init(&st);
    st.n_metadata = 1;
    st.metadata = &ep;
    send_packed(fd, 3, s, &st.base);
    drain(fd);
}
static void stream_client(const char *target) {
    loacl_client *c = connect_or_die(target);
    Loacl__V1__BenchmarkRequest req;
    loacl_metadata_entry md[] = { { "x-a", "text", 0 }, { "x-b-bin", "\0\1\2", 3 } };
    loacl_call_options o = { .timeout_ms = 5000, .metadata = md, .metadata_count = 2 };
    loacl_call *call = loacl_call_start(c, "/loacl.v1.BenchmarkService/StreamingCall", bench_request(&req, "x"),
                                        &loacl__v1__benchmark_response__descriptor, &o);
    ProtobufCMessage *m;
    int count = 0;
    while (loacl_call_next(call, &m) == 1) {
        Loacl__V1__BenchmarkResponse *r = (Loacl__V1__BenchmarkResponse *)m;
        char want[16];
        snprintf(want, sizeof want, "m%d", count++);
        CHECK(r->payload.len == strlen(want) && memcmp(r->payload.data, want, r->payload.len) == 0);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    CHECK(count == 3);
    if (loacl_call_status(call)->code != LOACL_OK) fprintf(stderr, "status %d %s\n", loacl_call_status(call)->code, loacl_call_status(call)->message);
    CHECK(loacl_call_status(call)->code == LOACL_OK);
    const char *v = loacl_metadata_get(&loacl_call_status(call)->trailing_metadata, "x-count", NULL);
    CHECK(v && strcmp(v, "3") == 0);
    loacl_call_free(call);
    loacl_close(c);
}

/* ---- 2. deadline: timeout_ms is sent; silence ends the call locally with CANCEL ---- */
static void deadline_script(int fd) {
    uint8_t flags, *p; uint32_t s; size_t n;
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 1);
    Loacl__Wire__V1__CallHeaders *h = loacl__wire__v1__call_headers__unpack(NULL, n, p);
    CHECK(h && h->timeout_ms == 300);
    if (h) loacl__wire__v1__call_headers__free_unpacked(h, NULL);
    free(p);
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 2);
    free(p);
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 4 && s == 1 && n == 0); /* CANCEL */
    free(p);
    drain(fd);
}
static void deadline_client(const char *target) {
    loacl_client *c = connect_or_die(target);
    Loacl__V1__BenchmarkRequest req;
    loacl_call_options o = { .timeout_ms = 300 };
    ProtobufCMessage *resp;
    loacl_status st;
    CHECK(loacl_unary(c, "/loacl.v1.BenchmarkService/UnaryCall", bench_request(&req, "x"),
                      &loacl__v1__benchmark_response__descriptor, &resp, &o, &st) == LOACL_DEADLINE_EXCEEDED);
    CHECK(resp == NULL && st.code == LOACL_DEADLINE_EXCEEDED);
    loacl_status_clear(&st);
    loacl_close(c);
}

/* ---- 3. error status with metadata; then GOAWAY refuses the next call ---- */
static void error_script(int fd) {
    uint8_t flags, *p; uint32_t s; size_t n;
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 1); free(p);
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 2); free(p);
    Loacl__Wire__V1__MetadataEntry e;
    loacl__wire__v1__metadata_entry__init(&e);
    e.key = "x-served-by";
    e.value = "fake";
    Loacl__Wire__V1__MetadataEntry *ep = &e;
    Loacl__Wire__V1__CallHeaders h;
    loacl__wire__v1__call_headers__init(&h);
    h.n_metadata = 1;
    h.metadata = &ep;
    send_packed(fd, 1, s, &h.base);
    Loacl__Wire__V1__CallStatus st;
    loacl__wire__v1__call_status__init(&st);
    st.code = LOACL_NOT_FOUND;
    st.message = "no such thing";
    send_packed(fd, 3, s, &st.base);
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 1 && s == 2); free(p);
    CHECK(frame_in(fd, &flags, &s, &p, &n) == 2); free(p);
    Loacl__Wire__V1__GoAway ga;
    loacl__wire__v1__go_away__init(&ga);
    ga.last_stream_id = 1;
    ga.reason = "draining";
    send_packed(fd, 7, 0, &ga.base);
    drain(fd);
}
static void error_client(const char *target) {
    loacl_client *c = connect_or_die(target);
    Loacl__V1__BenchmarkRequest req;
    ProtobufCMessage *resp;
    loacl_status st;
    CHECK(loacl_unary(c, "/loacl.v1.BenchmarkService/UnaryCall", bench_request(&req, "x"),
                      &loacl__v1__benchmark_response__descriptor, &resp, NULL, &st) == LOACL_NOT_FOUND);
    CHECK(st.message && strcmp(st.message, "no such thing") == 0);
    const char *v = loacl_metadata_get(&st.initial_metadata, "x-served-by", NULL);
    CHECK(v && strcmp(v, "fake") == 0);
    CHECK(strcmp(loacl_status_name(st.code), "NOT_FOUND") == 0);
    loacl_status_clear(&st);
    CHECK(loacl_unary(c, "/loacl.v1.BenchmarkService/UnaryCall", bench_request(&req, "y"),
                      &loacl__v1__benchmark_response__descriptor, &resp, NULL, &st) == LOACL_UNAVAILABLE);
    CHECK(st.message && strstr(st.message, "draining") != NULL);
    loacl_status_clear(&st);
    CHECK(loacl_unary(c, "/loacl.v1.BenchmarkService/UnaryCall", bench_request(&req, "z"),
                      &loacl__v1__benchmark_response__descriptor, &resp, NULL, NULL) == LOACL_UNAVAILABLE);
    loacl_close(c);
}

int main(void) {
    run_fake(stream_script, stream_client);
    run_fake(deadline_script, deadline_client);
    run_fake(error_script, error_client);
    loacl_client *c;
    char *err;
    CHECK(loacl_connect("bogus", NULL, &c, &err) != 0 && err != NULL);
    free(err);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
