/* loadgen: a LOACL wire v1 load generator written from docs/PROTOCOL.md, for measuring the
 * server's own cost (CPU per call from /proc/PID/stat, RSS per idle connection). */
#ifndef LOADGEN_H
#define LOADGEN_H

#include "conn.h"

struct options {
    struct endpoint endpoint;
    int connections, in_flight, idle, server_pid;
    int streaming;          /* --mode streaming: in_flight bidi streams per connection */
    uint32_t payload;
    double duration, warmup;
    const char *method;
};

int run_load(const struct options *o);
int run_idle(const struct options *o);

#endif
