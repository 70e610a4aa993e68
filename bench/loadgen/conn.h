/* loadgen: one client connection of the LOACL wire: the preface exchange, frame parsing,
 * PING answers, connection flow-control credit both ways, GOAWAY, and the unary calls it has
 * in flight (slot per call; stream id = call counter << slot bits | slot, so ids only grow). */
#ifndef LOADGEN_CONN_H
#define LOADGEN_CONN_H

#include "util.h"
#include "wire.h"

struct call_slot {
    uint64_t sent_ns;
    uint32_t stream;      /* 0 = free */
    uint8_t got_message;
};

struct load_stats {
    struct hist latency;            /* calls started in the measured window */
    uint64_t calls;                 /* completed OK, started in the measured window */
    uint64_t completed_in_window;   /* completed OK while the window was open */
    uint64_t errors;                /* non-OK status, wrong response size, protocol surprises */
    uint64_t window_from, window_to;
};

struct conn {
    int fd;
    int got_preface, goaway, dead;
    /* calls (load mode only) */
    struct call_slot *slots;
    uint32_t *free_slots;
    uint32_t n_free, n_slots, slot_bits;
    uint32_t counter;               /* last call counter used */
    int64_t send_window;            /* our connection send window */
    uint64_t unacked;               /* received MESSAGE bytes not yet credited back */
    struct buf in, out;
};

/* `in_flight` 0: an idle connection (preface only). */
void conn_init(struct conn *c, int fd, uint32_t in_flight);
void conn_free(struct conn *c);
/* Frame handling shared by the unary calls (below) and the streams (stream.c). */
void conn_queue_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t stream,
                      const uint8_t *payload, uint32_t len);
/* Logs why, counts an error, marks the connection dead; returns -1. */
int conn_fail(struct conn *c, struct load_stats *s, const char *why, uint32_t stream);
/* 1 once the server's preface has been read, 0 while it is incomplete, -1 if it is wrong. */
int conn_take_preface(struct conn *c, struct load_stats *s);
/* The next whole frame read: 1 (h and payload set), 0 (none complete yet), -1 (too large). */
int conn_next_frame(struct conn *c, struct load_stats *s, struct frame_header *h, const uint8_t **payload);
/* WINDOW_UPDATE (the connection's window; 0 returned so a stream's can be applied too), PING
 * (answered), GOAWAY (noted): 0 or 1 handled, -1 on a malformed or unexpected frame. */
int conn_connection_frame(struct conn *c, struct load_stats *s, const struct frame_header *h, const uint8_t *p);
/* Compacts the read buffer and returns connection credit once a quarter window has arrived. */
void conn_return_credit(struct conn *c);
/* Parses what was read; completes calls into `stats` (may be NULL in idle mode).
 * Returns -1 on a protocol error (the connection is then marked dead). */
int conn_process(struct conn *c, struct load_stats *stats, size_t response_len, uint64_t now);
/* Queues new calls until `in_flight` are open or the send window is spent. Returns how many. */
uint32_t conn_fill(struct conn *c, struct call_template *t, uint64_t now);
uint32_t conn_in_flight(const struct conn *c);

#endif
