#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void die(const char *what) {
    perror(what);
    exit(1);
}

void buf_reserve(struct buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *data = realloc(b->data, cap);
    if (!data) die("realloc");
    b->data = data;
    b->cap = cap;
}

void buf_append(struct buf *b, const void *src, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

/* Drops consumed bytes from the front. */
void buf_compact(struct buf *b) {
    if (b->off == 0) return;
    memmove(b->data, b->data + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int make_socket(const struct endpoint *ep, struct sockaddr_storage *addr, socklen_t *len) {
    memset(addr, 0, sizeof *addr);
    if (ep->unix_path) {
        struct sockaddr_un *un = (struct sockaddr_un *)addr;
        if (strlen(ep->unix_path) >= sizeof un->sun_path) {
            fprintf(stderr, "unix path too long\n");
            exit(2);
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, ep->unix_path);
        *len = sizeof *un;
        return socket(AF_UNIX, SOCK_STREAM, 0);
    }
    struct sockaddr_in *in = (struct sockaddr_in *)addr;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)ep->port);
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, by design */
    *len = sizeof *in;
    return socket(AF_INET, SOCK_STREAM, 0);
}

int listen_endpoint(const struct endpoint *ep) {
    struct sockaddr_storage addr;
    socklen_t len;
    int fd = make_socket(ep, &addr, &len);
    if (fd < 0) die("socket");
    int one = 1;
    if (!ep->unix_path) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    else unlink(ep->unix_path);
    if (bind(fd, (struct sockaddr *)&addr, len) < 0) die("bind");
    if (listen(fd, 128) < 0) die("listen");
    if (set_nonblocking(fd) < 0) die("fcntl");
    return fd;
}

int connect_endpoint(const struct endpoint *ep) {
    struct sockaddr_storage addr;
    socklen_t len;
    int fd = make_socket(ep, &addr, &len);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr *)&addr, len) < 0) die("connect");
    int one = 1;
    if (!ep->unix_path) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (set_nonblocking(fd) < 0) die("fcntl");
    return fd;
}

int read_all(int fd, struct buf *b) {
    for (;;) {
        buf_reserve(b, 65536);
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
        if (n > 0) {
            b->len += (size_t)n;
            continue;
        }
        if (n == 0) return -1;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
}

int write_some(int fd, struct buf *b) {
    while (b->off < b->len) {
        ssize_t n = write(fd, b->data + b->off, b->len - b->off);
        if (n > 0) {
            b->off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return -1;
    }
    if (b->off == b->len) b->off = b->len = 0;
    return 0;
}
