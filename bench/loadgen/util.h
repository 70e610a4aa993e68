/* loadgen: connecting, descriptor limits, a latency histogram and /proc readings. Byte buffers,
 * the clock and non-blocking reads and writes are raw-echo's (../raw-echo/common.h). */
#ifndef LOADGEN_UTIL_H
#define LOADGEN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "../raw-echo/common.h"

void buf_free(struct buf *b);
/* A non-blocking connected socket (TCP_NODELAY on TCP), from source address 127.0.0.(1 + source)
 * when source > 0 (TCP only); -1 on failure (errno set). */
int connect_from(const struct endpoint *ep, unsigned source);
/* Raises RLIMIT_NOFILE to at least `want` descriptors (and the soft limit to the hard one). */
void raise_fd_limit(long want);

/* Latency histogram: 0.1 µs resolution up to 100 ms, 10 µs up to 10 s. */
struct hist {
    uint64_t *bins;
    uint64_t count;
};
void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t ns);
/* Nearest-rank percentile (ceil(p·n)-th smallest) in µs. */
double hist_percentile_us(const struct hist *h, double p);

/* utime + stime of process `pid`, all threads, in µs (from /proc/PID/stat); -1 if unreadable. */
double proc_cpu_us(int pid);
/* VmRSS of `pid` in KiB (from /proc/PID/status); -1 if unreadable. */
long proc_rss_kib(int pid);
/* This process's own user + system CPU in µs. */
double self_cpu_us(void);

double parse_number(const char *opt, const char *v, double lo, double hi);

#endif
