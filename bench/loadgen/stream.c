#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_CREDIT_BATCH (WIRE_INITIAL_WINDOW / 4)

static void send_message(struct conn *c, struct stream_set *set, struct stream_state *st, uint64_t now) {
    conn_queue_frame(c, FRAME_MESSAGE, 0, st->id, set->message, set->message_len);
    st->send_window -= set->message_len;
    c->send_window -= set->message_len;
    st->sent_ns = now;
    st->waiting = 1;
}

/* Sends the stream's next message if the windows allow, else its half-close once past `stop_at`. */
static void advance(struct conn *c, struct stream_set *set, struct stream_state *st, uint64_t now, uint64_t stop_at) {
    if (st->closed || st->waiting || st->ended) return;
    if (now >= stop_at || c->goaway) {
        conn_queue_frame(c, FRAME_HEADERS, FLAG_END_STREAM, st->id, NULL, 0);
        st->closed = 1;
        return;
    }
    if (st->send_window > 0 && c->send_window > 0) send_message(c, set, st, now);
    else set->blocked = 1;
}

void streams_open(struct conn *c, struct stream_set *set, uint32_t n, const char *method,
                  const uint8_t *message, uint32_t message_len, uint64_t now) {
    memset(set, 0, sizeof *set);
    set->s = calloc(n, sizeof *set->s);
    if (!set->s) die("calloc");
    set->n = n;
    set->message = message;
    set->message_len = message_len;
    size_t method_len = strlen(method);
    uint8_t *headers = malloc(1 + 10 + method_len);
    if (!headers) die("malloc");
    size_t hl = 0;
    headers[hl++] = 0x0a; /* CallHeaders.method */
    hl += put_varint(headers + hl, method_len);
    memcpy(headers + hl, method, method_len);
    hl += method_len;
    for (uint32_t i = 0; i < n; i++) {
        struct stream_state *st = &set->s[i];
        st->id = 2 * i + 1;
        st->send_window = WIRE_INITIAL_WINDOW;
        conn_queue_frame(c, FRAME_HEADERS, 0, st->id, headers, (uint32_t)hl);
        send_message(c, set, st, now);
    }
    free(headers);
}

static struct stream_state *find(struct stream_set *set, uint32_t id) {
    if (id == 0 || !(id & 1) || (id - 1) / 2 >= set->n) return NULL;
    return &set->s[(id - 1) / 2];
}

int streams_process(struct conn *c, struct stream_set *set, struct load_stats *s,
                    size_t response_len, uint64_t now, uint64_t stop_at) {
    int r = conn_take_preface(c, s);
    if (r <= 0) return r;
    struct frame_header h;
    const uint8_t *p;
    while ((r = conn_next_frame(c, s, &h, &p)) > 0) {
        struct stream_state *st = find(set, h.stream);
        switch (h.type) {
        case FRAME_HEADERS:
            break; /* optional response metadata */
        case FRAME_MESSAGE:
            c->unacked += h.length;
            if (!st || !st->waiting) return conn_fail(c, s, "MESSAGE on a stream that awaits none", h.stream);
            if (h.length != response_len) {
                fprintf(stderr, "loadgen: stream %u: response of %u bytes, expected %zu\n", h.stream, h.length,
                        response_len);
                s->errors++;
            } else {
                if (st->sent_ns >= s->window_from && st->sent_ns < s->window_to) {
                    s->calls++;
                    hist_add(&s->latency, now - st->sent_ns);
                }
                if (now >= s->window_from && now < s->window_to) s->completed_in_window++;
            }
            st->waiting = 0;
            st->unacked += h.length;
            if (st->unacked >= STREAM_CREDIT_BATCH && !st->closed) {
                uint8_t inc[4];
                put_u32(inc, (uint32_t)st->unacked);
                conn_queue_frame(c, FRAME_WINDOW_UPDATE, 0, st->id, inc, 4);
                st->unacked = 0;
            }
            advance(c, set, st, now, stop_at);
            break;
        case FRAME_TRAILERS: {
            if (!st || st->ended) return conn_fail(c, s, "TRAILERS on an unknown or ended stream", h.stream);
            long code = call_status_code(p, h.length);
            if (code != 0 || !st->closed) {
                fprintf(stderr, "loadgen: stream %u ended with status %ld%s\n", h.stream, code,
                        st->closed ? "" : " before its half-close");
                s->errors++;
            }
            st->ended = 1;
            set->ended++;
            break;
        }
        default:
            r = conn_connection_frame(c, s, &h, p);
            if (r < 0) return -1;
            if (r == 0 && st) { /* a stream's WINDOW_UPDATE */
                st->send_window += get_u32(p);
                advance(c, set, st, now, stop_at);
            }
        }
    }
    if (r < 0) return -1;
    conn_return_credit(c);
    /* Streams held back by a window, or idle past stop_at, move on now. */
    if ((set->blocked && c->send_window > 0) || (now >= stop_at && !set->all_closed)) {
        set->blocked = 0;
        set->all_closed = now >= stop_at;
        for (uint32_t i = 0; i < set->n; i++) advance(c, set, &set->s[i], now, stop_at);
    }
    return 0;
}

void streams_free(struct stream_set *set) {
    free(set->s);
    memset(set, 0, sizeof *set);
}
