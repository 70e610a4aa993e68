/* Idle mode: opens `idle` connections (preface exchanged, no calls), a batch at a time so the
 * server's accept backlog never overflows, answers the server's keepalive PINGs, and reports
 * the server's resident memory per connection: (VmRSS with them − VmRSS before) / count, and
 * the server's CPU use while they sit idle for `duration` seconds. */
#include "loadgen.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define BATCH 256

/* Serves the connections' input until `until` (or, if wait_for > 0, until that many have the
 * server's preface). Returns how many have it. */
static int pump(int ep, struct conn *conns, int opened, uint64_t until, int wait_for, int *handshaken) {
    struct epoll_event events[512];
    while (now_ns() < until && !(wait_for > 0 && *handshaken >= wait_for)) {
        int n = epoll_wait(ep, events, 512, 10);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int k = 0; k < n; k++) {
            struct conn *c = events[k].data.ptr;
            if (c->dead) continue;
            if (read_all(c->fd, &c->in) != 0) {
                fprintf(stderr, "loadgen: idle connection %d closed by the server\n", (int)(c - conns));
                c->dead = 1;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            int had = c->got_preface;
            conn_process(c, NULL, 0, 0);
            if (!had && c->got_preface) (*handshaken)++;
            if (write_some(c->fd, &c->out) != 0) c->dead = 1;
        }
    }
    (void)opened;
    return *handshaken;
}

int run_idle(const struct options *o) {
    int total = o->idle;
    raise_fd_limit(total + 64);
    if (!o->server_pid) {
        fprintf(stderr, "loadgen: --idle needs --server-pid\n");
        return 2;
    }
    long rss0 = proc_rss_kib(o->server_pid);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct conn *conns = calloc((size_t)total, sizeof *conns);
    if (!conns) die("calloc");
    int opened = 0, handshaken = 0;
    uint64_t t0 = now_ns();
    while (opened < total) {
        int batch_end = opened + BATCH < total ? opened + BATCH : total;
        for (; opened < batch_end; opened++) {
            int fd = connect_from(&o->endpoint, (unsigned)(opened % 16));
            if (fd < 0) {
                fprintf(stderr, "loadgen: connect #%d: %s\n", opened, strerror(errno));
                goto done;
            }
            conn_init(&conns[opened], fd, 0);
            struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[opened]};
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) die("epoll_ctl");
            if (write_some(fd, &conns[opened].out) != 0) conns[opened].dead = 1;
        }
        pump(ep, conns, opened, now_ns() + 10000000000u, opened, &handshaken);
        if (handshaken < opened) {
            fprintf(stderr, "loadgen: only %d of %d connections got the server's preface\n", handshaken, opened);
            goto done;
        }
    }
done:;
    double open_s = (double)(now_ns() - t0) / 1e9;
    /* Let the server settle (accept loops, buffers returned), then read its RSS. */
    pump(ep, conns, opened, now_ns() + (uint64_t)(o->warmup * 1e9), 0, &handshaken);
    long rss1 = proc_rss_kib(o->server_pid);
    double cpu0 = proc_cpu_us(o->server_pid);
    pump(ep, conns, opened, now_ns() + (uint64_t)(o->duration * 1e9), 0, &handshaken);
    double cpu1 = proc_cpu_us(o->server_pid);
    long rss2 = proc_rss_kib(o->server_pid);
    int alive = 0;
    for (int i = 0; i < opened; i++) alive += !conns[i].dead;
    double per = alive ? (double)(rss1 - rss0) / alive : 0;
    printf("idle_connections=%d alive=%d open_s=%.1f server_rss_before_kib=%ld server_rss_kib=%ld "
           "server_rss_after_hold_kib=%ld rss_per_conn_kib=%.2f server_cpu_pct_while_idle=%.1f\n",
           opened, alive, open_s, rss0, rss1, rss2, per, (cpu1 - cpu0) / (o->duration * 1e4));
    for (int i = 0; i < opened; i++) conn_free(&conns[i]);
    return alive == total ? 0 : 1;
}
