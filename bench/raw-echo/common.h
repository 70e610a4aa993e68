/* raw-echo: the physical floor for LOACL's RPC benchmark.
 * Wire format: 4-byte big-endian length, then that many payload bytes; the server writes
 * every frame back unchanged. Loopback (127.0.0.1) or a Unix socket only. */
#ifndef RAW_ECHO_COMMON_H
#define RAW_ECHO_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define MAX_FRAME (16u << 20) /* refuse frames over 16 MiB */

/* Where to listen or connect: a TCP port on 127.0.0.1, or a Unix socket path. */
struct endpoint {
    int port;               /* 0 when unix_path is set */
    const char *unix_path;  /* NULL for TCP */
};

/* A growable byte buffer; `off` marks bytes already consumed from the front. */
struct buf {
    uint8_t *data;
    size_t len, off, cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *src, size_t n);
void buf_compact(struct buf *b);

uint64_t now_ns(void);
int set_nonblocking(int fd);
int listen_endpoint(const struct endpoint *ep);
int connect_endpoint(const struct endpoint *ep);
/* Reads until EAGAIN into b. Returns 0 on progress/EAGAIN, -1 on EOF or error. */
int read_all(int fd, struct buf *b);
/* Writes as much of b as the socket takes. Returns 0, or -1 on error. */
int write_some(int fd, struct buf *b);
void die(const char *what);

int run_server(int argc, char **argv);
int run_client(int argc, char **argv);

#endif
