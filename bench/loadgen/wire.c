#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void put_frame_header(uint8_t *p, uint32_t length, uint8_t type, uint8_t flags, uint32_t stream) {
    put_u32(p, length);
    p[4] = type;
    p[5] = flags;
    put_u32(p + 6, stream);
}

void get_frame_header(const uint8_t *p, struct frame_header *h) {
    h->length = get_u32(p);
    h->type = p[4];
    h->flags = p[5];
    h->stream = get_u32(p + 6);
}

size_t put_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

size_t echo_response_len(uint32_t payload) {
    /* field 1 (bytes), tag 0x0a; proto3 leaves an empty field out */
    return payload == 0 ? 0 : 1 + varint_len(payload) + payload;
}

void call_template_init(struct call_template *t, const char *method, uint32_t payload) {
    size_t method_len = strlen(method);
    size_t headers_len = 1 + varint_len(method_len) + method_len;   /* CallHeaders.method */
    size_t message_len = echo_response_len(payload);                 /* BenchmarkRequest.payload */
    t->len = WIRE_HEADER_LEN + headers_len + WIRE_HEADER_LEN + message_len;
    t->bytes = malloc(t->len);
    if (!t->bytes) {
        perror("malloc");
        exit(1);
    }
    uint8_t *p = t->bytes;
    put_frame_header(p, (uint32_t)headers_len, FRAME_HEADERS, 0, 0);
    t->headers_sid_at = 6;
    p += WIRE_HEADER_LEN;
    *p++ = 0x0a;
    p += put_varint(p, method_len);
    memcpy(p, method, method_len);
    p += method_len;
    t->message_sid_at = (size_t)(p - t->bytes) + 6;
    put_frame_header(p, (uint32_t)message_len, FRAME_MESSAGE, FLAG_END_STREAM, 0);
    p += WIRE_HEADER_LEN;
    if (payload > 0) {
        *p++ = 0x0a;
        p += put_varint(p, payload);
        memset(p, 'x', payload);
    }
    t->message_payload_len = message_len;
}

void call_template_set_stream(struct call_template *t, uint8_t *copy, uint32_t stream) {
    put_u32(copy + t->headers_sid_at, stream);
    put_u32(copy + t->message_sid_at, stream);
}

/* Reads a varint; returns bytes used or 0 if truncated/overlong. */
static size_t get_varint(const uint8_t *p, size_t n, uint64_t *v) {
    uint64_t r = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

long call_status_code(const uint8_t *p, size_t n) {
    long code = 0;
    size_t i = 0;
    while (i < n) {
        uint64_t key, v;
        size_t k = get_varint(p + i, n - i, &key);
        if (!k) return -1;
        i += k;
        switch (key & 7) {
        case 0: /* varint */
            if (!(k = get_varint(p + i, n - i, &v))) return -1;
            i += k;
            if (key >> 3 == 1) code = (long)(v & 0xffffffffu);
            break;
        case 2: /* length-delimited */
            if (!(k = get_varint(p + i, n - i, &v)) || v > n - i - k) return -1;
            i += k + (size_t)v;
            break;
        case 1: if (n - i < 8) return -1; i += 8; break;
        case 5: if (n - i < 4) return -1; i += 4; break;
        default: return -1;
        }
    }
    return code;
}
