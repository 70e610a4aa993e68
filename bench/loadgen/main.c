/* loadgen (--port P | --unix PATH) [--connections C] [--in-flight N] [--payload B]
 *         [--duration S] [--warmup S] [--server-pid PID] [--method /pkg.Service/Method]
 *         [--mode unary|streaming]
 * loadgen (--port P | --unix PATH) --idle K --server-pid PID [--warmup S] [--duration S]
 *
 * Load: C connections × N unary echo calls in flight each; prints one line
 *   calls_per_sec=… p50_us=… p99_us=… p999_us=… calls=… server_cpu_us_per_call=…
 *   server_cpu_pct=… client_cpu_us_per_call=… errors=…
 * --mode streaming: C connections × N bidirectional streams (StreamingCall unless --method),
 *   each writing one message and awaiting its echo, repeatedly; a "call" is one echoed message.
 * Idle: K connections that only exchange the preface; after `warmup` seconds prints the server's
 *   VmRSS growth per connection, then holds them `duration` seconds more. */
#include "loadgen.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr,
            "usage: loadgen (--port P | --unix PATH) [--connections C] [--in-flight N] [--payload B]\n"
            "               [--duration S] [--warmup S] [--server-pid PID] [--method PATH]\n"
            "               [--mode unary|streaming]\n"
            "       loadgen (--port P | --unix PATH) --idle K --server-pid PID [--warmup S] [--duration S]\n");
    return 2;
}

int main(int argc, char **argv) {
    struct options o = {.connections = 1, .in_flight = 64, .payload = 64, .duration = 5, .warmup = 0.5,
                        .method = NULL};
    int idle_duration_set = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        if (!strcmp(k, "--port")) o.endpoint.port = (int)parse_number(k, v, 1, 65535);
        else if (!strcmp(k, "--unix")) o.endpoint.unix_path = v;
        else if (!strcmp(k, "--connections")) o.connections = (int)parse_number(k, v, 1, 100000);
        else if (!strcmp(k, "--in-flight")) o.in_flight = (int)parse_number(k, v, 1, 4096);
        else if (!strcmp(k, "--payload")) o.payload = (uint32_t)parse_number(k, v, 0, 1 << 20);
        else if (!strcmp(k, "--duration")) o.duration = parse_number(k, v, 0.001, 3600), idle_duration_set = 1;
        else if (!strcmp(k, "--warmup")) o.warmup = parse_number(k, v, 0, 600);
        else if (!strcmp(k, "--server-pid")) o.server_pid = (int)parse_number(k, v, 1, 1 << 22);
        else if (!strcmp(k, "--idle")) o.idle = (int)parse_number(k, v, 1, 1000000);
        else if (!strcmp(k, "--method")) o.method = v;
        else if (!strcmp(k, "--mode")) {
            if (!strcmp(v, "streaming")) o.streaming = 1;
            else if (strcmp(v, "unary")) return usage();
        }
        else return usage();
    }
    if (!o.endpoint.unix_path && !o.endpoint.port) return usage();
    if (!o.method)
        o.method = o.streaming ? "/loacl.v1.BenchmarkService/StreamingCall" : "/loacl.v1.BenchmarkService/UnaryCall";
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (o.idle) {
        if (!idle_duration_set) o.duration = 1;
        return run_idle(&o);
    }
    return run_load(&o);
}
