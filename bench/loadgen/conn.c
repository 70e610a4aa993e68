#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void conn_init(struct conn *c, int fd, uint32_t in_flight) {
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->send_window = WIRE_INITIAL_WINDOW;
    buf_append(&c->out, WIRE_PREFACE, WIRE_PREFACE_LEN);
    if (in_flight == 0) return;
    while ((1u << c->slot_bits) < in_flight) c->slot_bits++;
    c->n_slots = in_flight;
    c->slots = calloc(in_flight, sizeof *c->slots);
    c->free_slots = malloc(in_flight * sizeof *c->free_slots);
    if (!c->slots || !c->free_slots) die("calloc");
    for (uint32_t i = 0; i < in_flight; i++) c->free_slots[i] = in_flight - 1 - i;
    c->n_free = in_flight;
}

void conn_free(struct conn *c) {
    if (c->fd >= 0) close(c->fd);
    free(c->slots);
    free(c->free_slots);
    buf_free(&c->in);
    buf_free(&c->out);
    c->fd = -1;
}

uint32_t conn_in_flight(const struct conn *c) { return c->n_slots - c->n_free; }

void conn_queue_frame(struct conn *c, uint8_t type, uint8_t flags, uint32_t stream,
                      const uint8_t *payload, uint32_t len) {
    uint8_t h[WIRE_HEADER_LEN];
    put_frame_header(h, len, type, flags, stream);
    buf_append(&c->out, h, sizeof h);
    if (len) buf_append(&c->out, payload, len);
}

int conn_fail(struct conn *c, struct load_stats *s, const char *why, uint32_t stream) {
    fprintf(stderr, "loadgen: fd %d: %s (stream %u)\n", c->fd, why, stream);
    if (s) s->errors++;
    c->dead = 1;
    return -1;
}

static struct call_slot *slot_for(struct conn *c, uint32_t stream) {
    if (!c->slots) return NULL;
    uint32_t i = stream & ((1u << c->slot_bits) - 1);
    if (i >= c->n_slots || c->slots[i].stream != stream) return NULL;
    return &c->slots[i];
}

static void complete(struct conn *c, struct call_slot *slot, struct load_stats *s, int ok, uint64_t now) {
    if (s) {
        if (!ok) s->errors++;
        else {
            if (slot->sent_ns >= s->window_from && slot->sent_ns < s->window_to) {
                s->calls++;
                hist_add(&s->latency, now - slot->sent_ns);
            }
            if (now >= s->window_from && now < s->window_to) s->completed_in_window++;
        }
    }
    c->free_slots[c->n_free++] = (uint32_t)(slot - c->slots);
    slot->stream = 0;
}

int conn_take_preface(struct conn *c, struct load_stats *s) {
    struct buf *in = &c->in;
    if (c->got_preface) return 1;
    if (in->len - in->off < WIRE_PREFACE_LEN) return 0;
    if (memcmp(in->data + in->off, WIRE_PREFACE, WIRE_PREFACE_LEN) != 0)
        return conn_fail(c, s, "the server's first 8 bytes are not the preface", 0);
    in->off += WIRE_PREFACE_LEN;
    c->got_preface = 1;
    return 1;
}

int conn_next_frame(struct conn *c, struct load_stats *s, struct frame_header *h, const uint8_t **payload) {
    struct buf *in = &c->in;
    if (in->len - in->off < WIRE_HEADER_LEN) return 0;
    get_frame_header(in->data + in->off, h);
    if (h->length > WIRE_MAX_PAYLOAD) return conn_fail(c, s, "frame above the maximum payload", h->stream);
    if (in->len - in->off < WIRE_HEADER_LEN + (size_t)h->length) return 0;
    *payload = in->data + in->off + WIRE_HEADER_LEN;
    in->off += WIRE_HEADER_LEN + (size_t)h->length;
    return 1;
}

int conn_connection_frame(struct conn *c, struct load_stats *s, const struct frame_header *h, const uint8_t *p) {
    switch (h->type) {
    case FRAME_WINDOW_UPDATE:
        if (h->length != 4) return conn_fail(c, s, "malformed WINDOW_UPDATE", h->stream);
        if (h->stream == 0) c->send_window += get_u32(p);
        return 0;
    case FRAME_PING:
        if (h->length != 8) return conn_fail(c, s, "malformed PING", h->stream);
        if (!(h->flags & FLAG_ACK)) conn_queue_frame(c, FRAME_PING, FLAG_ACK, 0, p, 8);
        return 1;
    case FRAME_GOAWAY:
        c->goaway = 1;
        fprintf(stderr, "loadgen: fd %d: GOAWAY (%u bytes: %.*s)\n", c->fd, h->length,
                (int)(h->length > 200 ? 200 : h->length), (const char *)p);
        return 1;
    default:
        return conn_fail(c, s, "unexpected frame type", h->stream);
    }
}

void conn_return_credit(struct conn *c) {
    buf_compact(&c->in);
    if (c->unacked >= WIRE_CREDIT_BATCH) {
        uint8_t inc[4];
        put_u32(inc, (uint32_t)c->unacked);
        conn_queue_frame(c, FRAME_WINDOW_UPDATE, 0, 0, inc, 4);
        c->unacked = 0;
    }
}

int conn_process(struct conn *c, struct load_stats *s, size_t response_len, uint64_t now) {
    int r = conn_take_preface(c, s);
    if (r <= 0) return r;
    struct frame_header h;
    const uint8_t *p;
    while ((r = conn_next_frame(c, s, &h, &p)) > 0) {
        struct call_slot *slot;
        switch (h.type) {
        case FRAME_HEADERS:
            break; /* optional response metadata */
        case FRAME_MESSAGE:
            c->unacked += h.length;
            if ((slot = slot_for(c, h.stream)) != NULL) {
                if (h.length != response_len || slot->got_message) {
                    fprintf(stderr, "loadgen: stream %u: response of %u bytes, expected %zu\n", h.stream,
                            h.length, response_len);
                    if (s) s->errors++;
                }
                slot->got_message = 1;
            }
            break;
        case FRAME_TRAILERS:
            if ((slot = slot_for(c, h.stream)) != NULL) {
                long code = call_status_code(p, h.length);
                if (code != 0) fprintf(stderr, "loadgen: stream %u ended with status %ld\n", h.stream, code);
                complete(c, slot, s, code == 0 && slot->got_message, now);
            }
            break;
        default: /* stream windows: a unary request never comes near 1 MiB */
            if (conn_connection_frame(c, s, &h, p) < 0) return -1;
        }
    }
    if (r < 0) return -1;
    conn_return_credit(c);
    return 0;
}

uint32_t conn_fill(struct conn *c, struct call_template *t, uint64_t now) {
    uint32_t opened = 0;
    uint32_t max_counter = c->slot_bits >= 32 ? 0 : (uint32_t)(0xffffffffu >> c->slot_bits);
    while (c->n_free > 0 && !c->goaway && !c->dead && c->send_window > 0 && c->counter < max_counter) {
        uint32_t i = c->free_slots[--c->n_free];
        uint32_t stream = (++c->counter << c->slot_bits) | i;
        c->slots[i] = (struct call_slot){.sent_ns = now, .stream = stream, .got_message = 0};
        buf_reserve(&c->out, t->len);
        uint8_t *dst = c->out.data + c->out.len;
        memcpy(dst, t->bytes, t->len);
        call_template_set_stream(t, dst, stream);
        c->out.len += t->len;
        c->send_window -= (int64_t)t->message_payload_len;
        opened++;
    }
    return opened;
}
