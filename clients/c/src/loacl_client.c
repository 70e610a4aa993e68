/*
 * LOACL wire v1 client in C: see include/loacl_client.h and docs/PROTOCOL.md (section numbers
 * below refer to it). Blocking sockets, poll() for deadlines, one call at a time.
 */
#define _GNU_SOURCE
#include "loacl_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "loacl/wire/v1/wire.pb-c.h"

#define PREFACE "LOACL/1\n"
#define PREFACE_LEN 8
#define HEADER_LEN 10
#define INITIAL_WINDOW (1 << 20)
#define MAX_WINDOW 2147483647LL
#define MAX_FRAME (4u << 20)

enum { F_HEADERS = 1, F_MESSAGE = 2, F_TRAILERS = 3, F_CANCEL = 4, F_WINDOW_UPDATE = 5, F_PING = 6, F_GOAWAY = 7 };
enum { END_STREAM = 1, ACK = 2 };

struct loacl_client {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    uint8_t *buf;           /* received, not yet parsed bytes */
    size_t len, cap, consumed_frame;
    int preface_ok;
    uint32_t next_stream;
    int64_t send_window;    /* connection window for our MESSAGEs */
    int64_t recv_window;    /* our view of the server's connection window */
    int goaway;
    uint32_t goaway_last;
    int broken;             /* no more I/O: closed, failed, or error GOAWAY */
    char *reason;           /* why it is broken or draining */
    loacl_call *active;
};

struct loacl_call {
    loacl_client *client;
    uint32_t stream;
    const ProtobufCMessageDescriptor *response_type;
    int64_t deadline_ms;    /* CLOCK_MONOTONIC ms; 0: none */
    int64_t send_window, recv_window;
    int done;
    int got_headers;
    loacl_status status;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static const char *const STATUS_NAMES[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *loacl_status_name(int code) {
    return (code >= 0 && code <= 16) ? STATUS_NAMES[code] : "UNKNOWN";
}

static char *format(const char *fmt, ...) {
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0) out = NULL;
    va_end(ap);
    return out;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void metadata_free(loacl_metadata *md) {
    for (size_t i = 0; i < md->count; i++) {
        free((char *)md->entries[i].key);
        free((char *)md->entries[i].value);
    }
    free(md->entries);
    md->entries = NULL;
    md->count = 0;
}

void loacl_status_clear(loacl_status *status) {
    if (!status) return;
    free(status->message);
    metadata_free(&status->initial_metadata);
    metadata_free(&status->trailing_metadata);
    memset(status, 0, sizeof *status);
}

const char *loacl_metadata_get(const loacl_metadata *md, const char *key, size_t *len) {
    for (size_t i = 0; md && i < md->count; i++) {
        if (strcmp(md->entries[i].key, key) == 0) {
            if (len) *len = md->entries[i].value_len;
            return md->entries[i].value;
        }
    }
    return NULL;
}

static int ends_with_bin(const char *key) {
    size_t n = strlen(key);
    return n >= 4 && strcmp(key + n - 4, "-bin") == 0;
}

static int valid_key(const char *key) {
    size_t n = key ? strlen(key) : 0;
    if (n < 1 || n > 128) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = key[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.')) return 0;
    }
    return 1;
}

/* Copies received entries; values are NUL-terminated copies (binary ones too). */
static void metadata_copy(loacl_metadata *out, size_t n, Loacl__Wire__V1__MetadataEntry **in) {
    metadata_free(out);
    if (n == 0) return;
    out->entries = calloc(n, sizeof *out->entries);
    if (!out->entries) return;
    for (size_t i = 0; i < n; i++) {
        const char *key = in[i]->key;
        const void *value;
        size_t len;
        if (ends_with_bin(key)) { value = in[i]->binary_value.data; len = in[i]->binary_value.len; }
        else { value = in[i]->value; len = strlen(in[i]->value); }
        char *copy = malloc(len + 1);
        if (!copy) break;
        if (len) memcpy(copy, value, len);
        copy[len] = '\0';
        out->entries[i].key = strdup(key);
        out->entries[i].value = copy;
        out->entries[i].value_len = len;
        out->count = i + 1;
    }
}

/* ---- I/O ------------------------------------------------------------------------------------- */

static void mark_broken(loacl_client *c, char *reason /* owned */) {
    if (!c->broken) {
        c->broken = 1;
        free(c->reason);
        c->reason = reason ? reason : strdup("connection failed");
    } else {
        free(reason);
    }
}

static char *tls_error(const char *what) {
    char detail[256] = "";
    unsigned long e = ERR_get_error();
    if (e) ERR_error_string_n(e, detail, sizeof detail);
    ERR_clear_error();
    return format("%s%s%s", what, detail[0] ? ": " : "", detail);
}

/* OpenSSL writes with write(2): a peer that closed would raise SIGPIPE and kill the process.
 * Block it around TLS writes and swallow one raised meanwhile (the process's handlers stay). */
typedef struct { sigset_t set, old; int was_pending; } pipe_guard;

static void pipe_guard_begin(pipe_guard *g) {
    sigset_t pending;
    sigemptyset(&g->set);
    sigaddset(&g->set, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &g->set, &g->old);
}

static void pipe_guard_end(pipe_guard *g) {
    if (!g->was_pending) {
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&g->set, NULL, &zero) == SIGPIPE) {}
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static int write_all(loacl_client *c, const uint8_t *data, size_t len) {
    if (c->broken) return -1;
    while (len > 0) {
        ssize_t n;
        if (c->ssl) {
            pipe_guard g;
            pipe_guard_begin(&g);
            int r = SSL_write(c->ssl, data, (int)(len > INT32_MAX ? INT32_MAX : len));
            pipe_guard_end(&g);
            if (r <= 0) { mark_broken(c, tls_error("TLS write failed")); return -1; }
            n = r;
        } else {
            n = send(c->fd, data, len, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) { mark_broken(c, format("write failed: %s", strerror(errno))); return -1; }
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_frame(loacl_client *c, uint8_t type, uint8_t flags, uint32_t stream, const uint8_t *payload, size_t len) {
    uint8_t *frame = malloc(HEADER_LEN + len);
    if (!frame) return -1;
    put_u32(frame, (uint32_t)len);
    frame[4] = type;
    frame[5] = flags;
    put_u32(frame + 6, stream);
    if (len) memcpy(frame + HEADER_LEN, payload, len);
    int r = write_all(c, frame, HEADER_LEN + len);
    free(frame);
    return r;
}

static void send_window_update(loacl_client *c, uint32_t stream, uint32_t increment) {
    uint8_t p[4];
    put_u32(p, increment);
    send_frame(c, F_WINDOW_UPDATE, 0, stream, p, 4);
}

static void send_goaway(loacl_client *c, uint32_t code, const char *reason) {
    Loacl__Wire__V1__GoAway ga;
    loacl__wire__v1__go_away__init(&ga);
    ga.last_stream_id = 0;
    ga.code = code;
    ga.reason = (char *)reason;
    size_t n = loacl__wire__v1__go_away__get_packed_size(&ga);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return;
    loacl__wire__v1__go_away__pack(&ga, buf);
    send_frame(c, F_GOAWAY, 0, 0, buf, n);
    free(buf);
}

static void protocol_error(loacl_client *c, uint32_t code, const char *reason) {
    send_goaway(c, code, reason);
    mark_broken(c, format("protocol error by the server: %s", reason));
}

/* Makes c->buf hold at least `need` bytes. 1: done, 0: deadline passed, -1: connection failed. */
static int fill(loacl_client *c, size_t need, int64_t deadline_ms) {
    while (c->len < need) {
        if (c->broken) return -1;
        if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
            int wait = -1;
            if (deadline_ms) {
                int64_t left = deadline_ms - now_ms();
                if (left <= 0) return 0;
                wait = left > INT32_MAX ? INT32_MAX : (int)left;
            }
            struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
            int r = poll(&pfd, 1, wait);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) { mark_broken(c, format("poll failed: %s", strerror(errno))); return -1; }
            if (r == 0) return 0;
        }
        if (c->cap - c->len < 65536) {
            size_t cap = c->cap ? c->cap * 2 : 131072;
            while (cap - c->len < 65536) cap *= 2;
            uint8_t *nb = realloc(c->buf, cap);
            if (!nb) { mark_broken(c, strdup("out of memory")); return -1; }
            c->buf = nb;
            c->cap = cap;
        }
        ssize_t n;
        if (c->ssl) {
            int r = SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len));
            if (r <= 0) {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
                mark_broken(c, e == SSL_ERROR_ZERO_RETURN ? strdup("connection closed by the server")
                                                          : tls_error("connection lost (TLS)"));
                return -1;
            }
            n = r;
        } else {
            n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) { mark_broken(c, strdup(c->goaway ? c->reason : "connection closed by the server")); return -1; }
            if (n < 0) { mark_broken(c, format("connection lost: %s", strerror(errno))); return -1; }
        }
        c->len += (size_t)n;
    }
    return 1;
}

typedef struct {
    uint8_t type, flags;
    uint32_t stream;
    const uint8_t *payload; /* valid until the next read_frame */
    size_t len;
} frame_t;

/* The next frame. 1: *f is set, 0: deadline passed, -1: connection failed. */
static int read_frame(loacl_client *c, int64_t deadline_ms, frame_t *f) {
    if (c->consumed_frame) {
        memmove(c->buf, c->buf + c->consumed_frame, c->len - c->consumed_frame);
        c->len -= c->consumed_frame;
        c->consumed_frame = 0;
    }
    if (!c->preface_ok) {
        int r = fill(c, PREFACE_LEN, deadline_ms);
        if (r <= 0) return r;
        if (memcmp(c->buf, PREFACE, PREFACE_LEN) != 0) {
            mark_broken(c, strdup("server did not answer with the LOACL/1 preface"));
            return -1;
        }
        c->preface_ok = 1;
        memmove(c->buf, c->buf + PREFACE_LEN, c->len - PREFACE_LEN);
        c->len -= PREFACE_LEN;
    }
    int r = fill(c, HEADER_LEN, deadline_ms);
    if (r <= 0) return r;
    uint32_t len = get_u32(c->buf);
    if (len > MAX_FRAME) { protocol_error(c, LOACL_RESOURCE_EXHAUSTED, "frame larger than the maximum"); return -1; }
    r = fill(c, HEADER_LEN + (size_t)len, deadline_ms);
    if (r <= 0) return r;
    f->type = c->buf[4];
    f->flags = c->buf[5];
    f->stream = get_u32(c->buf + 6);
    f->payload = c->buf + HEADER_LEN;
    f->len = len;
    c->consumed_frame = HEADER_LEN + (size_t)len;
    return 1;
}

/* ---- connection-level frames -------------------------------------------------------------- */

static void finish(loacl_call *call, int code, char *message /* owned */) {
    if (call->done) { free(message); return; }
    call->done = 1;
    call->status.code = code;
    free(call->status.message);
    call->status.message = message ? message : strdup("");
    if (call->client && call->client->active == call) call->client->active = NULL;
}

/* Connection credit for MESSAGE bytes received (§4: on receipt, not on consumption). This
 * client reads one message at a time, so it simply returns it at once, unbatched. */
static void credit_connection(loacl_client *c, size_t n) {
    if (n == 0) return;
    c->recv_window += (int64_t)n;
    send_window_update(c, 0, (uint32_t)n);
}

/* Frames that are not about the active call's data. 0: handled, -1: connection broken. */
static int handle_connection_frame(loacl_client *c, const frame_t *f) {
    switch (f->type) {
    case F_PING:
        if (f->stream != 0 || f->len != 8) { protocol_error(c, LOACL_INVALID_ARGUMENT, "malformed PING"); return -1; }
        if (!(f->flags & ACK)) send_frame(c, F_PING, ACK, 0, f->payload, 8);
        return 0;
    case F_WINDOW_UPDATE: {
        if (f->len != 4) { protocol_error(c, LOACL_INVALID_ARGUMENT, "malformed WINDOW_UPDATE"); return -1; }
        uint32_t inc = get_u32(f->payload);
        if (inc == 0 || inc > MAX_WINDOW) { protocol_error(c, LOACL_INVALID_ARGUMENT, "bad WINDOW_UPDATE increment"); return -1; }
        int64_t *window = NULL;
        if (f->stream == 0) window = &c->send_window;
        else if (c->active && c->active->stream == f->stream) window = &c->active->send_window;
        if (window) {
            *window += inc;
            if (*window > MAX_WINDOW) { protocol_error(c, LOACL_INVALID_ARGUMENT, "window overflow"); return -1; }
        }
        return 0;
    }
    case F_GOAWAY: {
        if (f->stream != 0) { protocol_error(c, LOACL_INVALID_ARGUMENT, "GOAWAY on a stream"); return -1; }
        Loacl__Wire__V1__GoAway *ga = loacl__wire__v1__go_away__unpack(NULL, f->len, f->payload);
        if (!ga) { protocol_error(c, LOACL_INVALID_ARGUMENT, "undecodable GOAWAY"); return -1; }
        c->goaway = 1;
        c->goaway_last = ga->last_stream_id;
        free(c->reason);
        c->reason = format("server sent GOAWAY (%s)%s%s", loacl_status_name((int)ga->code),
                           ga->reason[0] ? ": " : "", ga->reason);
        int fatal = ga->code != 0;
        loacl__wire__v1__go_away__free_unpacked(ga, NULL);
        if (fatal) { c->broken = 1; return -1; }
        return 0;
    }
    case F_MESSAGE:
        if (f->stream == 0) { protocol_error(c, LOACL_INVALID_ARGUMENT, "MESSAGE on stream 0"); return -1; }
        if (f->stream >= c->next_stream) { protocol_error(c, LOACL_INVALID_ARGUMENT, "MESSAGE for a stream never opened"); return -1; }
        /* A call we cancelled or finished: drop it, keep the connection credit flowing. */
        c->recv_window -= (int64_t)f->len;
        credit_connection(c, f->len);
        return 0;
    case F_HEADERS:
    case F_TRAILERS:
    case F_CANCEL:
        if (f->stream == 0) { protocol_error(c, LOACL_INVALID_ARGUMENT, "stream frame on stream 0"); return -1; }
        return 0; /* for a finished call: discard (§3.4) */
    default:
        protocol_error(c, LOACL_INVALID_ARGUMENT, "unknown frame type");
        return -1;
    }
}

/* ---- connecting ------------------------------------------------------------------------------ */

static int connect_with_timeout(int fd, const struct sockaddr *addr, socklen_t len, int timeout_ms) {
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int r = connect(fd, addr, len);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        r = poll(&pfd, 1, timeout_ms);
        if (r == 0) { errno = ETIMEDOUT; r = -1; }
        else if (r > 0) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
            if (err) { errno = err; r = -1; } else r = 0;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return r;
}

static int is_ip_literal(const char *host) {
    unsigned char tmp[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1;
}

static int start_tls(loacl_client *c, const char *host, const loacl_connect_options *o, char **error) {
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (!c->ctx) { *error = tls_error("SSL_CTX_new"); return -1; }
    SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (o && o->ca_file) {
        if (SSL_CTX_load_verify_locations(c->ctx, o->ca_file, NULL) != 1) { *error = tls_error("cannot load CA file"); return -1; }
    } else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
        *error = tls_error("cannot load the system CAs");
        return -1;
    }
    if (o && o->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(c->ctx, o->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(c->ctx, o->key_file ? o->key_file : o->cert_file, SSL_FILETYPE_PEM) != 1) {
            *error = tls_error("cannot load the client certificate");
            return -1;
        }
    }
    static const unsigned char alpn[] = { 7, 'l', 'o', 'a', 'c', 'l', '/', '1' };
    SSL_CTX_set_alpn_protos(c->ctx, alpn, sizeof alpn);
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl) { *error = tls_error("SSL_new"); return -1; }
    SSL_set_fd(c->ssl, c->fd);
    const char *name = (o && o->server_name) ? o->server_name : host;
    if (is_ip_literal(name)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name);
    } else {
        SSL_set_tlsext_host_name(c->ssl, name);
        SSL_set1_host(c->ssl, name);
    }
    if (SSL_connect(c->ssl) != 1) {
        long v = SSL_get_verify_result(c->ssl);
        *error = v != X509_V_OK ? format("TLS handshake failed: certificate verify failed: %s", X509_verify_cert_error_string(v))
                                : tls_error("TLS handshake failed");
        return -1;
    }
    const unsigned char *chosen = NULL;
    unsigned int chosen_len = 0;
    SSL_get0_alpn_selected(c->ssl, &chosen, &chosen_len);
    if (chosen_len && (chosen_len != 7 || memcmp(chosen, "loacl/1", 7) != 0)) {
        *error = strdup("server chose an ALPN protocol other than loacl/1");
        return -1;
    }
    return 0;
}

int loacl_connect(const char *target, const loacl_connect_options *o, loacl_client **out, char **error) {
    *out = NULL;
    *error = NULL;
    int timeout_ms = (o && o->connect_timeout_ms > 0) ? o->connect_timeout_ms : 10000;
    loacl_client *c = calloc(1, sizeof *c);
    if (!c) { *error = strdup("out of memory"); return -1; }
    c->fd = -1;
    c->next_stream = 1;
    c->send_window = c->recv_window = INITIAL_WINDOW;

    int tls = 0;
    const char *rest;
    if (strncmp(target, "unix:", 5) == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(target + 5) == 0 || strlen(target + 5) >= sizeof sa.sun_path) { *error = format("invalid target %s", target); goto fail; }
        strcpy(sa.sun_path, target + 5);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect_with_timeout(c->fd, (struct sockaddr *)&sa, sizeof sa, timeout_ms) < 0) {
            *error = format("cannot connect to %s: %s", target, strerror(errno));
            goto fail;
        }
    } else {
        if (strncmp(target, "tcp:", 4) == 0) rest = target + 4;
        else if (strncmp(target, "tls:", 4) == 0) { rest = target + 4; tls = 1; }
        else { *error = format("invalid target %s: expected tcp:host:port, tls:host:port or unix:/path", target); goto fail; }
        char host[256];
        const char *colon = strrchr(rest, ':');
        const char *h = rest;
        size_t hl = colon ? (size_t)(colon - rest) : 0;
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') { h++; hl -= 2; }
        if (!colon || hl == 0 || hl >= sizeof host || !colon[1]) { *error = format("invalid target %s", target); goto fail; }
        memcpy(host, h, hl);
        host[hl] = '\0';
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
        int gai = getaddrinfo(host, colon + 1, &hints, &res);
        if (gai != 0) { *error = format("cannot resolve %s: %s", host, gai_strerror(gai)); goto fail; }
        int last_errno = 0;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
            if (c->fd < 0) continue;
            if (connect_with_timeout(c->fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0) break;
            last_errno = errno;
            close(c->fd);
            c->fd = -1;
        }
        freeaddrinfo(res);
        if (c->fd < 0) { *error = format("cannot connect to %s: %s", target, strerror(last_errno)); goto fail; }
        int one = 1;
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (tls && start_tls(c, host, o, error) < 0) goto fail;
    }
    if (write_all(c, (const uint8_t *)PREFACE, PREFACE_LEN) < 0) {
        *error = strdup(c->reason ? c->reason : "cannot send the preface");
        goto fail;
    }
    *out = c;
    return 0;
fail:
    if (!*error) *error = strdup("cannot connect");
    c->broken = 1;
    loacl_close(c);
    return -1;
}

void loacl_close(loacl_client *c) {
    if (!c) return;
    if (!c->broken) send_goaway(c, 0, "client closing");
    if (c->ssl) {
        if (!c->broken) {
            pipe_guard g;
            pipe_guard_begin(&g);
            SSL_shutdown(c->ssl);
            pipe_guard_end(&g);
        }
        SSL_free(c->ssl);
    }
    if (c->ctx) SSL_CTX_free(c->ctx);
    if (c->fd >= 0) close(c->fd);
    if (c->active) c->active->client = NULL;
    free(c->buf);
    free(c->reason);
    free(c);
}

/* ---- calls ----------------------------------------------------------------------------------- */

static loacl_call *fail_call(loacl_call *call, int code, char *message) {
    finish(call, code, message);
    return call;
}

loacl_call *loacl_call_start(loacl_client *c, const char *method, const ProtobufCMessage *request,
                             const ProtobufCMessageDescriptor *response_type, const loacl_call_options *opts) {
    loacl_call *call = calloc(1, sizeof *call);
    if (!call) return NULL;
    call->client = c;
    call->response_type = response_type;
    call->status.code = -1;
    call->send_window = call->recv_window = INITIAL_WINDOW;
    if (c->active) return fail_call(call, LOACL_FAILED_PRECONDITION, strdup("another call is in progress on this connection"));
    if (c->broken || c->goaway) return fail_call(call, LOACL_UNAVAILABLE, strdup(c->reason ? c->reason : "connection closed"));
    if (c->next_stream == 0) return fail_call(call, LOACL_UNAVAILABLE, strdup("stream ids exhausted: open a new connection"));

    size_t n_md = opts ? opts->metadata_count : 0;
    for (size_t i = 0; i < n_md; i++) {
        if (!valid_key(opts->metadata[i].key))
            return fail_call(call, LOACL_INVALID_ARGUMENT, format("invalid metadata key \"%s\"", opts->metadata[i].key ? opts->metadata[i].key : ""));
    }
    Loacl__Wire__V1__CallHeaders headers;
    loacl__wire__v1__call_headers__init(&headers);
    headers.method = (char *)method;
    headers.timeout_ms = opts ? opts->timeout_ms : 0;
    Loacl__Wire__V1__MetadataEntry *entries = n_md ? calloc(n_md, sizeof *entries) : NULL;
    Loacl__Wire__V1__MetadataEntry **ptrs = n_md ? calloc(n_md, sizeof *ptrs) : NULL;
    if (n_md && (!entries || !ptrs)) { free(entries); free(ptrs); return fail_call(call, LOACL_RESOURCE_EXHAUSTED, strdup("out of memory")); }
    for (size_t i = 0; i < n_md; i++) {
        loacl__wire__v1__metadata_entry__init(&entries[i]);
        entries[i].key = (char *)opts->metadata[i].key;
        if (ends_with_bin(opts->metadata[i].key)) {
            entries[i].binary_value.data = (uint8_t *)opts->metadata[i].value;
            entries[i].binary_value.len = opts->metadata[i].value_len;
        } else {
            entries[i].value = (char *)opts->metadata[i].value;
        }
        ptrs[i] = &entries[i];
    }
    headers.n_metadata = n_md;
    headers.metadata = ptrs;
    size_t hlen = loacl__wire__v1__call_headers__get_packed_size(&headers);
    size_t mlen = protobuf_c_message_get_packed_size(request);
    uint8_t *hbuf = malloc(hlen ? hlen : 1), *mbuf = malloc(mlen ? mlen : 1);
    if (!hbuf || !mbuf) {
        free(entries); free(ptrs); free(hbuf); free(mbuf);
        return fail_call(call, LOACL_RESOURCE_EXHAUSTED, strdup("out of memory"));
    }
    loacl__wire__v1__call_headers__pack(&headers, hbuf);
    protobuf_c_message_pack(request, mbuf);
    free(entries);
    free(ptrs);
    if (mlen > MAX_FRAME) {
        free(hbuf); free(mbuf);
        return fail_call(call, LOACL_RESOURCE_EXHAUSTED, format("request of %zu bytes exceeds the maximum frame", mlen));
    }

    call->stream = c->next_stream++;
    if (opts && opts->timeout_ms) call->deadline_ms = now_ms() + (int64_t)opts->timeout_ms;
    c->active = call;
    send_frame(c, F_HEADERS, 0, call->stream, hbuf, hlen);
    free(hbuf);
    /* Flow control (§4): wait for credit unless both windows are positive or the message fits. */
    while (!c->broken && !call->done &&
           !(((int64_t)mlen <= c->send_window || c->send_window > 0) &&
             ((int64_t)mlen <= call->send_window || call->send_window > 0))) {
        frame_t f;
        int r = read_frame(c, call->deadline_ms, &f);
        if (r == 0) { send_frame(c, F_CANCEL, 0, call->stream, NULL, 0); finish(call, LOACL_DEADLINE_EXCEEDED, strdup("deadline exceeded (client)")); }
        else if (r < 0) break;
        else if (f.stream == call->stream && f.type == F_TRAILERS) {
            Loacl__Wire__V1__CallStatus *st = loacl__wire__v1__call_status__unpack(NULL, f.len, f.payload);
            finish(call, st ? (int)st->code : LOACL_INTERNAL, strdup(st ? st->message : "undecodable TRAILERS"));
            if (st) loacl__wire__v1__call_status__free_unpacked(st, NULL);
        } else if (f.stream != call->stream || f.type != F_HEADERS) {
            handle_connection_frame(c, &f);
        }
    }
    if (!call->done && c->broken) finish(call, LOACL_UNAVAILABLE, strdup(c->reason ? c->reason : "connection closed"));
    if (!call->done) {
        c->send_window -= (int64_t)mlen;
        call->send_window -= (int64_t)mlen;
        send_frame(c, F_MESSAGE, END_STREAM, call->stream, mbuf, mlen);
    }
    free(mbuf);
    return call;
}

void loacl_call_cancel(loacl_call *call) {
    if (!call || call->done) return;
    if (call->client && !call->client->broken) send_frame(call->client, F_CANCEL, 0, call->stream, NULL, 0);
    finish(call, LOACL_CANCELLED, strdup("cancelled by the client"));
}

int loacl_call_next(loacl_call *call, ProtobufCMessage **message) {
    *message = NULL;
    loacl_client *c = call->client;
    while (!call->done) {
        if (!c) { finish(call, LOACL_UNAVAILABLE, strdup("connection closed")); break; }
        frame_t f;
        int r = read_frame(c, call->deadline_ms, &f);
        if (r == 0) {
            send_frame(c, F_CANCEL, 0, call->stream, NULL, 0);
            finish(call, LOACL_DEADLINE_EXCEEDED, strdup("deadline exceeded (client)"));
            break;
        }
        if (r < 0) { finish(call, LOACL_UNAVAILABLE, strdup(c->reason ? c->reason : "connection closed")); break; }
        if (f.stream != call->stream || f.type == F_WINDOW_UPDATE || f.type == F_CANCEL) {
            if (handle_connection_frame(c, &f) < 0) { finish(call, LOACL_UNAVAILABLE, strdup(c->reason)); break; }
            if (c->goaway && call->stream > c->goaway_last)
                finish(call, LOACL_UNAVAILABLE, format("not processed: %s; retry on a new connection", c->reason));
            continue;
        }
        if (f.type == F_HEADERS) {
            if (!call->got_headers) {
                Loacl__Wire__V1__CallHeaders *h = loacl__wire__v1__call_headers__unpack(NULL, f.len, f.payload);
                if (h) {
                    metadata_copy(&call->status.initial_metadata, h->n_metadata, h->metadata);
                    loacl__wire__v1__call_headers__free_unpacked(h, NULL);
                }
                call->got_headers = 1;
            }
        } else if (f.type == F_TRAILERS) {
            Loacl__Wire__V1__CallStatus *st = loacl__wire__v1__call_status__unpack(NULL, f.len, f.payload);
            if (!st) { finish(call, LOACL_INTERNAL, strdup("undecodable TRAILERS from the server")); break; }
            metadata_copy(&call->status.trailing_metadata, st->n_metadata, st->metadata);
            finish(call, (int)st->code, strdup(st->message));
            loacl__wire__v1__call_status__free_unpacked(st, NULL);
        } else if (f.type == F_MESSAGE) {
            int64_t n = (int64_t)f.len;
            /* §4: a sender may go while the window is positive; only a window <= 0 is overrun. */
            if ((n > c->recv_window && c->recv_window <= 0) ||
                (n > call->recv_window && call->recv_window <= 0)) {
                protocol_error(c, LOACL_RESOURCE_EXHAUSTED, "flow-control window exceeded");
                finish(call, LOACL_INTERNAL, strdup(c->reason));
                break;
            }
            c->recv_window -= n;
            ProtobufCMessage *m = protobuf_c_message_unpack(call->response_type, NULL, f.len, f.payload);
            if (n > 0) { /* consumed: stream credit, then connection credit */
                send_window_update(c, call->stream, (uint32_t)n);
                credit_connection(c, f.len);
            }
            if (!m) {
                send_frame(c, F_CANCEL, 0, call->stream, NULL, 0);
                finish(call, LOACL_INTERNAL, format("cannot decode %s", call->response_type->name));
                break;
            }
            *message = m;
            return 1;
        } else {
            if (handle_connection_frame(c, &f) < 0) { finish(call, LOACL_UNAVAILABLE, strdup(c->reason)); break; }
        }
    }
    return call->status.code == LOACL_OK ? 0 : -1;
}

const loacl_status *loacl_call_status(const loacl_call *call) { return &call->status; }

void loacl_call_free(loacl_call *call) {
    if (!call) return;
    loacl_call_cancel(call);
    if (call->client && call->client->active == call) call->client->active = NULL;
    loacl_status_clear(&call->status);
    free(call);
}

int loacl_unary(loacl_client *c, const char *method, const ProtobufCMessage *request,
                const ProtobufCMessageDescriptor *response_type, ProtobufCMessage **response,
                const loacl_call_options *opts, loacl_status *status) {
    *response = NULL;
    loacl_call *call = loacl_call_start(c, method, request, response_type, opts);
    if (!call) {
        if (status) { memset(status, 0, sizeof *status); status->code = LOACL_RESOURCE_EXHAUSTED; status->message = strdup("out of memory"); }
        return LOACL_RESOURCE_EXHAUSTED;
    }
    ProtobufCMessage *m = NULL, *extra = NULL;
    int r = loacl_call_next(call, &m);
    if (r == 1) {
        r = loacl_call_next(call, &extra);
        if (r == 1) {
            protobuf_c_message_free_unpacked(extra, NULL);
            loacl_call_cancel(call);
            call->status.code = LOACL_INTERNAL;
            free(call->status.message);
            call->status.message = strdup("the server sent more than one response message");
        }
    } else if (r == 0) {
        call->status.code = LOACL_INTERNAL;
        free(call->status.message);
        call->status.message = strdup("the server ended the call with OK but sent no response message");
    }
    int code = call->status.code;
    if (code == LOACL_OK) *response = m;
    else if (m) protobuf_c_message_free_unpacked(m, NULL);
    if (status) {
        *status = call->status;
        memset(&call->status, 0, sizeof call->status);
    }
    loacl_call_free(call);
    return code;
}

double loacl_ping(loacl_client *c, int timeout_ms) {
    if (c->broken || c->active) return -1;
    uint8_t data[8];
    RAND_bytes(data, sizeof data);
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (send_frame(c, F_PING, 0, 0, data, 8) < 0) return -1;
    for (;;) {
        frame_t f;
        if (read_frame(c, deadline, &f) <= 0) return -1;
        if (f.type == F_PING && (f.flags & ACK) && f.len == 8 && memcmp(f.payload, data, 8) == 0) break;
        if (handle_connection_frame(c, &f) < 0) return -1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}
