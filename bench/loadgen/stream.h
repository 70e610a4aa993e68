/* loadgen: streaming mode. Each connection opens `in_flight` bidirectional StreamingCall streams
 * and ping-pongs on every one, like bench/README.md's client contract: write one message, await
 * its echo, write the next. Stream and connection credit are returned in quarter-window batches
 * (docs/PROTOCOL.md §4). After the measured window every stream half-closes and must end OK. */
#ifndef LOADGEN_STREAM_H
#define LOADGEN_STREAM_H

#include "conn.h"

struct stream_state {
    uint64_t sent_ns;
    uint32_t id;
    uint8_t waiting;     /* a message is out, its echo not back yet */
    uint8_t closed;      /* half-close sent */
    uint8_t ended;       /* TRAILERS received */
    int64_t send_window; /* our stream send window */
    uint64_t unacked;    /* echo bytes received, not yet credited back */
};

/* The streams of one connection (ids 1, 3, 5, …: stream i has id 2i+1). */
struct stream_set {
    struct stream_state *s;
    uint32_t n, ended;
    int blocked;             /* a stream waits for send credit */
    int all_closed;          /* every idle stream got its half-close */
    const uint8_t *message;  /* one request MESSAGE payload (BenchmarkRequest) */
    uint32_t message_len;
};

/* Queues the streams' HEADERS and first messages on `c`. */
void streams_open(struct conn *c, struct stream_set *set, uint32_t n, const char *method,
                  const uint8_t *message, uint32_t message_len, uint64_t now);
/* Parses what was read: echoes complete into `stats`, and each answered stream sends its next
 * message (until `stop_at`), or its half-close once past it. -1 on a protocol error. */
int streams_process(struct conn *c, struct stream_set *set, struct load_stats *stats,
                    size_t response_len, uint64_t now, uint64_t stop_at);
void streams_free(struct stream_set *set);

#endif
