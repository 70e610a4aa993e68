#ifndef LOACL_CLIBPQ_SHIM_H
#define LOACL_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
