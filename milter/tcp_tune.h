/*
 * tcp_tune.h - TCP_NODELAY and TCP_QUICKACK on libmilter's connections.
 */
#ifndef SG_TCP_TUNE_H
#define SG_TCP_TUNE_H

#include <stdbool.h>

/* sg_tcp_tune_enable - call before smfi_main when listening on inet:/inet6: */
void sg_tcp_tune_enable(bool enable);

#endif
