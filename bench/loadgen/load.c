/* Load mode: `connections` connections, each keeping `in_flight` unary echo calls open
 * (pipelined: per read burst it takes every reply, then sends the replacements in one write),
 * or with --mode streaming `in_flight` bidirectional streams ping-ponging (stream.c).
 * One thread, epoll. Prints calls/s (echoed messages/s when streaming), latency percentiles and
 * the server's CPU per call or message. */
#include "loadgen.h"
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static void watch(int ep, struct conn *c, int want_out) {
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0) die("epoll_ctl");
}

/* Sends what is queued; keeps EPOLLOUT on only while bytes wait. */
static void flush(int ep, struct conn *c, int *out_armed) {
    if (write_some(c->fd, &c->out) != 0) {
        c->dead = 1;
        return;
    }
    int want = c->out.len > c->out.off;
    if (want != *out_armed) {
        watch(ep, c, want);
        *out_armed = want;
    }
}

int run_load(const struct options *o) {
    struct call_template t;
    call_template_init(&t, o->method, o->payload);
    size_t response_len = echo_response_len(o->payload);
    raise_fd_limit(o->connections + 64);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct conn *conns = calloc((size_t)o->connections, sizeof *conns);
    int *out_armed = calloc((size_t)o->connections, sizeof *out_armed);
    struct stream_set *sets = o->streaming ? calloc((size_t)o->connections, sizeof *sets) : NULL;
    if (!conns || !out_armed || (o->streaming && !sets)) die("calloc");
    /* A streamed request: BenchmarkRequest.payload, `payload` bytes of 'x' (the unary template's
     * MESSAGE payload is the same bytes). */
    const uint8_t *message = t.bytes + t.len - t.message_payload_len;
    for (int i = 0; i < o->connections; i++) {
        int fd = connect_from(&o->endpoint, 0);
        if (fd < 0) die("connect");
        conn_init(&conns[i], fd, o->streaming ? 0 : (uint32_t)o->in_flight);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
    }

    struct load_stats s = {0};
    hist_init(&s.latency);
    uint64_t start = now_ns();
    s.window_from = start + (uint64_t)(o->warmup * 1e9);
    s.window_to = s.window_from + (uint64_t)(o->duration * 1e9);
    uint64_t drain_until = s.window_to + 2000000000u;
    double server0 = -1, server1 = -1, self0 = 0, self1 = 0;
    int measuring = 0;

    for (int i = 0; i < o->connections; i++) {
        if (o->streaming)
            streams_open(&conns[i], &sets[i], (uint32_t)o->in_flight, o->method, message,
                         (uint32_t)t.message_payload_len, start);
        else
            conn_fill(&conns[i], &t, start);
        flush(ep, &conns[i], &out_armed[i]);
    }
    struct epoll_event events[256];
    for (;;) {
        uint64_t now = now_ns();
        if (!measuring && now >= s.window_from) {
            server0 = o->server_pid ? proc_cpu_us(o->server_pid) : -1;
            self0 = self_cpu_us();
            measuring = 1;
        }
        if (measuring == 1 && now >= s.window_to) {
            server1 = o->server_pid ? proc_cpu_us(o->server_pid) : -1;
            self1 = self_cpu_us();
            measuring = 2;
        }
        if (measuring == 2) {
            uint32_t open = 0;
            for (int i = 0; i < o->connections; i++)
                if (!conns[i].dead) open += o->streaming ? sets[i].n - sets[i].ended : conn_in_flight(&conns[i]);
            if (open == 0 || now >= drain_until) break;
        }
        uint64_t next = measuring == 0 ? s.window_from : measuring == 1 ? s.window_to : drain_until;
        int timeout_ms = next > now ? (int)((next - now) / 1000000u) + 1 : 0;
        int n = epoll_wait(ep, events, 256, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = events[k].data.ptr;
            int idx = (int)(c - conns);
            if (c->dead) continue;
            if (events[k].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (read_all(c->fd, &c->in) != 0) {
                    if (!c->goaway) fprintf(stderr, "loadgen: connection %d closed by the server\n", idx);
                    s.errors += o->streaming ? sets[idx].n - sets[idx].ended : conn_in_flight(c);
                    c->dead = 1;
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    continue;
                }
                uint64_t t_read = now_ns();
                if (o->streaming) {
                    streams_process(c, &sets[idx], &s, response_len, t_read, s.window_to);
                } else {
                    conn_process(c, &s, response_len, t_read);
                    if (t_read < s.window_to) conn_fill(c, &t, t_read);
                }
            }
            flush(ep, c, &out_armed[idx]);
        }
    }

    int dead = 0;
    for (int i = 0; i < o->connections; i++) {
        dead += conns[i].dead;
        if (o->streaming) streams_free(&sets[i]);
        conn_free(&conns[i]);
    }
    double secs = o->duration;
    printf("calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f calls=%llu", (double)s.calls / secs,
           hist_percentile_us(&s.latency, 0.50), hist_percentile_us(&s.latency, 0.99),
           hist_percentile_us(&s.latency, 0.999), (unsigned long long)s.calls);
    double per = s.completed_in_window ? 1.0 / (double)s.completed_in_window : 0;
    if (server0 >= 0 && server1 >= 0)
        printf(" server_cpu_us_per_call=%.2f server_cpu_pct=%.0f", (server1 - server0) * per,
               (server1 - server0) / (secs * 1e4));
    free(sets);
    free(conns);
    free(out_armed);
    printf(" client_cpu_us_per_call=%.2f errors=%llu\n", (self1 - self0) * per, (unsigned long long)s.errors);
    if (dead) fprintf(stderr, "loadgen: %d connection(s) lost\n", dead);
    return s.calls > 0 && s.errors == 0 ? 0 : 1;
}
