#include "common.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "server") == 0) return run_server(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "client") == 0) return run_client(argc - 1, argv + 1);
    fprintf(stderr,
            "usage: raw-echo server (--port P | --unix PATH)\n"
            "       raw-echo client (--port P | --unix PATH) [--connections C] [--concurrency N]\n"
            "                       [--payload B] [--duration S] [--warmup S] [--mode unary|streaming]\n");
    return 2;
}
