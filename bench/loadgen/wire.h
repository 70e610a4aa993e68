/* loadgen: the LOACL wire v1 as a client sees it (docs/PROTOCOL.md): the preface, frame
 * headers, and the few protobuf fields a unary echo call needs, encoded by hand. */
#ifndef LOADGEN_WIRE_H
#define LOADGEN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_PREFACE "LOACL/1\n"
#define WIRE_PREFACE_LEN 8
#define WIRE_HEADER_LEN 10
#define WIRE_MAX_PAYLOAD (4u << 20)      /* the server's default maximum frame payload */
#define WIRE_INITIAL_WINDOW (1u << 20)   /* stream and connection windows, both directions */
#define WIRE_CREDIT_BATCH (256u << 10)   /* return connection credit per 256 KiB received */

enum frame_type {
    FRAME_HEADERS = 0x1,
    FRAME_MESSAGE = 0x2,
    FRAME_TRAILERS = 0x3,
    FRAME_CANCEL = 0x4,
    FRAME_WINDOW_UPDATE = 0x5,
    FRAME_PING = 0x6,
    FRAME_GOAWAY = 0x7,
};

enum frame_flags { FLAG_END_STREAM = 0x1, FLAG_ACK = 0x2 };

struct frame_header {
    uint32_t length;
    uint8_t type, flags;
    uint32_t stream;
};

void put_u32(uint8_t *p, uint32_t v);
uint32_t get_u32(const uint8_t *p);
/* Writes a 10-byte frame header at p. */
void put_frame_header(uint8_t *p, uint32_t length, uint8_t type, uint8_t flags, uint32_t stream);
void get_frame_header(const uint8_t *p, struct frame_header *h);

/* Protobuf varint at p; returns its length (at most 10). */
size_t put_varint(uint8_t *p, uint64_t v);

/* One unary call as bytes: HEADERS (CallHeaders.method) then MESSAGE+END_STREAM
 * (BenchmarkRequest.payload = `payload` bytes of 'x'). The stream id is patched per call
 * with call_template_set_stream. */
struct call_template {
    uint8_t *bytes;
    size_t len;
    size_t message_payload_len;   /* MESSAGE payload: counts against the send windows */
    size_t headers_sid_at, message_sid_at;
};
void call_template_init(struct call_template *t, const char *method, uint32_t payload);
void call_template_set_stream(struct call_template *t, uint8_t *copy, uint32_t stream);
/* The encoded BenchmarkResponse an echo of `payload` bytes has: the same size as the request. */
size_t echo_response_len(uint32_t payload);

/* CallStatus.code (field 1) from a TRAILERS payload; 0 when absent. -1 if malformed. */
long call_status_code(const uint8_t *p, size_t n);

#endif
