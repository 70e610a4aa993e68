#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

void buf_free(struct buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

int connect_from(const struct endpoint *ep, unsigned source) {
    struct sockaddr_storage addr;
    socklen_t len;
    int fd;
    memset(&addr, 0, sizeof addr);
    if (ep->unix_path) {
        struct sockaddr_un *un = (struct sockaddr_un *)&addr;
        if (strlen(ep->unix_path) >= sizeof un->sun_path) {
            fprintf(stderr, "loadgen: unix path too long\n");
            exit(2);
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, ep->unix_path);
        len = sizeof *un;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&addr;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)ep->port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, by design */
        len = sizeof *in;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && source > 0) {
            /* Source 127.0.0.(1 + source): each source address has its own ephemeral ports, so
             * tens of thousands of connections do not make connect() search a crowded range. */
            int one = 1;
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK + source)};
            if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
                close(fd);
                return -1;
            }
        }
    }
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!ep->unix_path) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (set_nonblocking(fd) != 0) die("fcntl");
    return fd;
}

void raise_fd_limit(long want) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
    if (want > 0 && r.rlim_max != RLIM_INFINITY && (long)r.rlim_max < want) r.rlim_max = (rlim_t)want;
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
        getrlimit(RLIMIT_NOFILE, &r);
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

/* Two tiers: 0.1 µs bins up to 100 ms, then 10 µs bins up to 10 s (64 connections × 64 in
 * flight on a busy machine wait well past 100 ms); above that lands in the last bin. */
#define FINE_NS 100u
#define FINE_BINS 1000000u
#define COARSE_NS 10000u
#define COARSE_BINS 1000000u

void hist_init(struct hist *h) {
    h->bins = calloc(FINE_BINS + COARSE_BINS, sizeof *h->bins);
    if (!h->bins) die("calloc");
    h->count = 0;
}

void hist_add(struct hist *h, uint64_t ns) {
    uint64_t b = ns / FINE_NS;
    if (b >= FINE_BINS) {
        b = (ns - (uint64_t)FINE_BINS * FINE_NS) / COARSE_NS;
        b = FINE_BINS + (b < COARSE_BINS ? b : COARSE_BINS - 1);
    }
    h->bins[b]++;
    h->count++;
}

static double bin_us(uint32_t b) {
    if (b < FINE_BINS) return (double)b * FINE_NS / 1000.0;
    return ((double)FINE_BINS * FINE_NS + (double)(b - FINE_BINS) * COARSE_NS) / 1000.0;
}

double hist_percentile_us(const struct hist *h, double p) {
    if (h->count == 0) return 0;
    uint64_t rank = (uint64_t)(p * (double)h->count);
    if ((double)rank < p * (double)h->count) rank++;
    if (rank == 0) rank = 1;
    uint64_t seen = 0;
    for (uint32_t b = 0; b < FINE_BINS + COARSE_BINS; b++) {
        seen += h->bins[b];
        if (seen >= rank) return bin_us(b);
    }
    return bin_us(FINE_BINS + COARSE_BINS - 1);
}

double proc_cpu_us(int pid) {
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    /* The command name (field 2) may contain spaces: fields after it follow the last ')'. */
    char *p = strrchr(line, ')');
    if (!p) return -1;
    unsigned long utime = 0, stime = 0;
    /* after ')': field 3 state, then 4..13, then 14 utime, 15 stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

long proc_rss_kib(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

double self_cpu_us(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

double parse_number(const char *opt, const char *v, double lo, double hi) {
    char *end;
    double d = strtod(v, &end);
    if (*end || d < lo || d > hi) {
        fprintf(stderr, "loadgen: bad %s %s\n", opt, v);
        exit(2);
    }
    return d;
}
