/*
 * loacl_client.h: a small synchronous C client for LOACL's wire protocol v1
 * (docs/PROTOCOL.md) over TCP, TLS (OpenSSL) and Unix sockets, with protobuf-c messages.
 *
 * One call at a time per connection: start a call, read it to its end (or cancel it), then
 * start the next. PINGs, WINDOW_UPDATEs and GOAWAY are handled while a call reads.
 * Not thread-safe: use one loacl_client per thread.
 */
#ifndef LOACL_CLIENT_H
#define LOACL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* gRPC status codes (docs/PROTOCOL.md section 3.3). */
enum {
    LOACL_OK = 0, LOACL_CANCELLED = 1, LOACL_UNKNOWN = 2, LOACL_INVALID_ARGUMENT = 3,
    LOACL_DEADLINE_EXCEEDED = 4, LOACL_NOT_FOUND = 5, LOACL_ALREADY_EXISTS = 6,
    LOACL_PERMISSION_DENIED = 7, LOACL_RESOURCE_EXHAUSTED = 8, LOACL_FAILED_PRECONDITION = 9,
    LOACL_ABORTED = 10, LOACL_OUT_OF_RANGE = 11, LOACL_UNIMPLEMENTED = 12, LOACL_INTERNAL = 13,
    LOACL_UNAVAILABLE = 14, LOACL_DATA_LOSS = 15, LOACL_UNAUTHENTICATED = 16
};

/* "OK", "NOT_FOUND", ...; "UNKNOWN" for codes outside 0-16. */
const char *loacl_status_name(int code);

/* One metadata entry. Keys are 1-128 bytes of lowercase [a-z0-9-_.]; keys ending in "-bin"
 * carry bytes (value_len counts them), other keys carry UTF-8 text (value_len may be 0: strlen). */
typedef struct {
    const char *key;
    const char *value;
    size_t value_len;
} loacl_metadata_entry;

/* Metadata received from the server; owned by the status that holds it. */
typedef struct {
    loacl_metadata_entry *entries;
    size_t count;
} loacl_metadata;

/* First value of `key`, or NULL (its length in *len when len is not NULL). */
const char *loacl_metadata_get(const loacl_metadata *md, const char *key, size_t *len);

/* How a call ended. Owned strings; release with loacl_status_clear. */
typedef struct {
    int code;
    char *message;
    loacl_metadata initial_metadata;  /* response HEADERS, if the server sent any */
    loacl_metadata trailing_metadata; /* TRAILERS */
} loacl_status;

void loacl_status_clear(loacl_status *status);

typedef struct {
    const char *ca_file;      /* TLS: PEM CAs that verify the server; NULL: the system's */
    const char *cert_file;    /* TLS: client certificate chain for mutual TLS (PEM) */
    const char *key_file;     /* TLS: its private key (PEM) */
    const char *server_name;  /* TLS: name to verify and send as SNI; NULL: the target's host */
    int connect_timeout_ms;   /* 0: 10 s */
} loacl_connect_options;

typedef struct {
    uint64_t timeout_ms;                 /* deadline; 0: none */
    const loacl_metadata_entry *metadata;
    size_t metadata_count;
} loacl_call_options;

typedef struct loacl_client loacl_client;
typedef struct loacl_call loacl_call;

/* Connects to "tcp:host:port", "tls:host:port" or "unix:/path" and sends the preface.
 * Returns 0, or -1 with a malloc'd message in *error (free it). opts may be NULL. */
int loacl_connect(const char *target, const loacl_connect_options *opts, loacl_client **out, char **error);

/* Says GOAWAY, closes the connection and frees the client. */
void loacl_close(loacl_client *client);

/* Unary call. On OK (returns 0) *response is a message unpacked with response_type: free it with
 * protobuf_c_message_free_unpacked(*response, NULL). Otherwise returns the status code and
 * *response is NULL. status may be NULL; if not, clear it with loacl_status_clear. */
int loacl_unary(loacl_client *client, const char *method, const ProtobufCMessage *request,
                const ProtobufCMessageDescriptor *response_type, ProtobufCMessage **response,
                const loacl_call_options *opts, loacl_status *status);

/* Server-streaming call: sends the one request, then read responses with loacl_call_next.
 * Returns NULL only when out of memory. */
loacl_call *loacl_call_start(loacl_client *client, const char *method, const ProtobufCMessage *request,
                             const ProtobufCMessageDescriptor *response_type, const loacl_call_options *opts);

/* 1: *message is the next response (free with protobuf_c_message_free_unpacked);
 * 0: the call ended with OK; -1: it ended otherwise (see loacl_call_status). */
int loacl_call_next(loacl_call *call, ProtobufCMessage **message);

/* The call's status once loacl_call_next returned 0 or -1 (code -1 while it runs). */
const loacl_status *loacl_call_status(const loacl_call *call);

/* Abandons the call (sends CANCEL); its status becomes CANCELLED. */
void loacl_call_cancel(loacl_call *call);

/* Frees the call, cancelling it first if it is still running. */
void loacl_call_free(loacl_call *call);

/* Round trip of one PING in milliseconds, or -1 when the connection failed. */
double loacl_ping(loacl_client *client, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* LOACL_CLIENT_H */
