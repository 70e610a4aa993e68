/* Pipelined load client: each connection keeps its share of `concurrency` requests in flight.
 * Per read burst it records every echo that arrived, then sends the replacements in one write.
 * The server echoes in order, so each connection's send times form a FIFO. */
#include "common.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BUCKET_NS 100u                       /* histogram resolution: 0.1 µs */
#define BUCKETS (1000000u)                   /* covers 0 .. 100 ms; above lands in the last */

struct conn {
    int fd;
    size_t target;          /* requests this connection keeps in flight */
    uint64_t *stamps;       /* ring of send times, capacity `target` */
    size_t head, count;
    struct buf in, out;
};

struct stats {
    uint64_t *hist;
    uint64_t calls, errors;
};

static void record(struct stats *s, uint64_t latency_ns) {
    uint64_t b = latency_ns / BUCKET_NS;
    s->hist[b < BUCKETS ? b : BUCKETS - 1]++;
    s->calls++;
}

static double percentile_us(const struct stats *s, double p) {
    if (s->calls == 0) return 0;
    uint64_t rank = (uint64_t)(p * (double)s->calls);
    if ((double)rank < p * (double)s->calls) rank++; /* nearest rank: ceil(p * n) */
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < BUCKETS; b++) {
        seen += s->hist[b];
        if (seen >= rank) return (double)b * BUCKET_NS / 1000.0;
    }
    return (double)(BUCKETS - 1) * BUCKET_NS / 1000.0;
}

static void queue_request(struct conn *c, const uint8_t *frame, size_t frame_len, uint64_t stamp) {
    buf_append(&c->out, frame, frame_len);
    c->stamps[(c->head + c->count) % c->target] = stamp;
    c->count++;
}

/* Consumes complete echoes; returns how many arrived, or -1 on a malformed reply. */
static long take_echoes(struct conn *c, struct stats *s, uint32_t payload, uint64_t now,
                        uint64_t measure_from) {
    long got = 0;
    struct buf *in = &c->in;
    while (in->len - in->off >= 4) {
        const uint8_t *p = in->data + in->off;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (n != payload || c->count == 0) return -1;
        if (in->len - in->off < 4 + (size_t)n) break;
        in->off += 4 + (size_t)n;
        uint64_t sent = c->stamps[c->head];
        c->head = (c->head + 1) % c->target;
        c->count--;
        if (sent >= measure_from) record(s, now - sent);
        got++;
    }
    buf_compact(in);
    return got;
}

static double parse_double(const char *opt, const char *v, double lo, double hi) {
    char *end;
    double d = strtod(v, &end);
    if (*end || d < lo || d > hi) {
        fprintf(stderr, "raw-echo client: bad %s %s\n", opt, v);
        exit(2);
    }
    return d;
}

int run_client(int argc, char **argv) {
    struct endpoint endpoint = {0};
    int connections = 1, concurrency = 64;
    uint32_t payload = 64;
    double duration = 5, warmup = 0.5;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--port") == 0) endpoint.port = (int)parse_double(o, v, 1, 65535);
        else if (strcmp(o, "--unix") == 0) endpoint.unix_path = v;
        else if (strcmp(o, "--connections") == 0) connections = (int)parse_double(o, v, 1, 1024);
        else if (strcmp(o, "--concurrency") == 0) concurrency = (int)parse_double(o, v, 1, 1 << 20);
        else if (strcmp(o, "--payload") == 0) payload = (uint32_t)parse_double(o, v, 0, MAX_FRAME);
        else if (strcmp(o, "--duration") == 0) duration = parse_double(o, v, 0.001, 600);
        else if (strcmp(o, "--warmup") == 0) warmup = parse_double(o, v, 0, 60);
        else if (strcmp(o, "--mode") == 0) {
            /* No streams in this protocol: both modes are the same pipelined echo. */
            if (strcmp(v, "unary") != 0 && strcmp(v, "streaming") != 0) {
                fprintf(stderr, "raw-echo client: --mode unary|streaming\n");
                return 2;
            }
        } else {
            fprintf(stderr, "raw-echo client: unknown option %s\n", o);
            return 2;
        }
    }
    if ((!endpoint.unix_path && endpoint.port == 0) || connections > concurrency) {
        fprintf(stderr, "raw-echo client: need --port P or --unix PATH, connections <= concurrency\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    size_t frame_len = 4 + (size_t)payload;
    uint8_t *frame = malloc(frame_len);
    if (!frame) die("malloc");
    frame[0] = (uint8_t)(payload >> 24), frame[1] = (uint8_t)(payload >> 16);
    frame[2] = (uint8_t)(payload >> 8), frame[3] = (uint8_t)payload;
    memset(frame + 4, 0x5A, payload);

    struct stats stats = {.hist = calloc(BUCKETS, sizeof(uint64_t))};
    if (!stats.hist) die("calloc");
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct conn *conns = calloc((size_t)connections, sizeof *conns);
    if (!conns) die("calloc");

    uint64_t start = now_ns();
    uint64_t measure_from = start + (uint64_t)(warmup * 1e9);
    uint64_t end = measure_from + (uint64_t)(duration * 1e9);
    uint64_t give_up = end + 2000000000u; /* drain stragglers for at most 2 s */

    for (int i = 0; i < connections; i++) {
        struct conn *c = &conns[i];
        c->fd = connect_endpoint(&endpoint);
        c->target = (size_t)(concurrency / connections + (i < concurrency % connections));
        c->stamps = calloc(c->target, sizeof(uint64_t));
        if (!c->stamps) die("calloc");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
        uint64_t t = now_ns();
        for (size_t k = 0; k < c->target; k++) queue_request(c, frame, frame_len, t);
        if (write_some(c->fd, &c->out) < 0) die("write");
    }

    size_t open_conns = (size_t)connections;
    struct epoll_event events[64];
    for (;;) {
        uint64_t t = now_ns();
        if (t >= give_up || open_conns == 0) break;
        size_t in_flight = 0;
        for (int i = 0; i < connections; i++) in_flight += conns[i].fd >= 0 ? conns[i].count : 0;
        if (t >= end && in_flight == 0) break;

        int n = epoll_wait(ep, events, 64, 50);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c->fd < 0) continue;
            int failed = 0;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                failed = read_all(c->fd, &c->in) < 0;
                uint64_t arrived = now_ns();
                long got = take_echoes(c, &stats, payload, arrived, measure_from);
                if (got < 0) {
                    stats.errors++;
                    failed = 1;
                    got = 0;
                }
                if (arrived < end) {
                    uint64_t sent = now_ns();
                    for (long k = 0; k < got; k++) queue_request(c, frame, frame_len, sent);
                }
            }
            /* One write per batch of replacements. */
            if (write_some(c->fd, &c->out) < 0) failed = 1;
            if (!failed && c->out.len > c->out.off) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            } else if (!failed && (events[i].events & EPOLLOUT)) {
                struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            if (failed) {
                if (c->count > 0 && now_ns() < end) stats.errors += c->count;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                open_conns--;
            }
        }
    }

    if (stats.errors) fprintf(stderr, "raw-echo client: %llu errors\n", (unsigned long long)stats.errors);
    printf("calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f calls=%llu\n",
           (double)stats.calls / duration, percentile_us(&stats, 0.50), percentile_us(&stats, 0.99),
           percentile_us(&stats, 0.999), (unsigned long long)stats.calls);
    for (int i = 0; i < connections; i++) {
        if (conns[i].fd >= 0) close(conns[i].fd);
        free(conns[i].stamps);
        free(conns[i].in.data);
        free(conns[i].out.data);
    }
    free(conns);
    free(stats.hist);
    free(frame);
    return stats.calls > 0 ? 0 : 1;
}
