/* Shared command-line handling of the examples: TLS options and error printing. */
#ifndef LOACL_EXAMPLES_COMMON_H
#define LOACL_EXAMPLES_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loacl_client.h"

/* Consumes "--ca F", "--cert F", "--key F", "--server-name N" at argv[*i]; 1 if it did. */
static int parse_tls_option(int argc, char **argv, int *i, loacl_connect_options *o) {
    const char *a = argv[*i];
    if (*i + 1 >= argc) return 0;
    if (strcmp(a, "--ca") == 0) o->ca_file = argv[++*i];
    else if (strcmp(a, "--cert") == 0) o->cert_file = argv[++*i];
    else if (strcmp(a, "--key") == 0) o->key_file = argv[++*i];
    else if (strcmp(a, "--server-name") == 0) o->server_name = argv[++*i];
    else return 0;
    return 1;
}

static void print_status_error(const char *what, const loacl_status *st) {
    fprintf(stderr, "error: %s: %s: %s\n", what, loacl_status_name(st->code), st->message ? st->message : "");
}

#endif
