#ifndef LOACL_CPROTOBUFC_SHIM_H
#define LOACL_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
