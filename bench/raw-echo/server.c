/* Single-threaded epoll echo server: per read burst, every complete frame is copied to the
 * connection's output buffer, then the buffer goes out in one write. */
#include "common.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    int fd;
    int want_out; /* EPOLLOUT registered */
    struct buf in, out;
};

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

static void close_conn(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in.data);
    free(c->out.data);
    free(c);
}

/* Moves every complete frame from c->in to c->out. Returns -1 on an oversized frame. */
static int echo_frames(struct conn *c) {
    struct buf *in = &c->in;
    while (in->len - in->off >= 4) {
        const uint8_t *p = in->data + in->off;
        uint32_t n = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (n > MAX_FRAME) return -1;
        if (in->len - in->off < 4 + (size_t)n) break;
        buf_append(&c->out, p, 4 + (size_t)n);
        in->off += 4 + (size_t)n;
    }
    buf_compact(in);
    return 0;
}

static int update_interest(int ep, struct conn *c) {
    int want_out = c->out.len > c->out.off;
    if (want_out == c->want_out) return 0;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.ptr = c};
    c->want_out = want_out;
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void accept_all(int ep, int lfd, int is_tcp) {
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) return; /* EAGAIN or transient error: wait for the next event */
        int one = 1;
        if (is_tcp) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_nonblocking(fd);
        struct conn *c = calloc(1, sizeof *c);
        if (!c) die("calloc");
        c->fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
    }
}

int run_server(int argc, char **argv) {
    struct endpoint endpoint = {0};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) endpoint.port = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--unix") == 0) endpoint.unix_path = argv[i + 1];
        else {
            fprintf(stderr, "raw-echo server: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!endpoint.unix_path && (endpoint.port <= 0 || endpoint.port > 65535)) {
        fprintf(stderr, "raw-echo server: need --port P or --unix PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int lfd = listen_endpoint(&endpoint);
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    static int listener_tag;
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");
    if (endpoint.unix_path) fprintf(stderr, "raw-echo listening on %s\n", endpoint.unix_path);
    else fprintf(stderr, "raw-echo listening on 127.0.0.1:%d\n", endpoint.port);

    struct epoll_event events[64];
    while (!stopping) {
        int n = epoll_wait(ep, events, 64, 500);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == &listener_tag) {
                accept_all(ep, lfd, endpoint.unix_path == NULL);
                continue;
            }
            struct conn *c = events[i].data.ptr;
            int failed = 0;
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                failed = read_all(c->fd, &c->in) < 0;
                if (echo_frames(c) < 0) failed = 1;
            }
            /* One write for everything this burst produced (and anything left over). */
            if (write_some(c->fd, &c->out) < 0 || failed || update_interest(ep, c) < 0) {
                close_conn(ep, c);
            }
        }
    }
    close(lfd);
    if (endpoint.unix_path) unlink(endpoint.unix_path);
    return 0;
}
