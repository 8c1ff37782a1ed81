/*
 * callbacks.h - the libmilter callbacks.  They translate milter events into
 * libsendguard calls and verdicts into SMFIS_* replies; they decide nothing.
 */
#ifndef SG_CALLBACKS_H
#define SG_CALLBACKS_H

#include "runtime.h"

#include <libmilter/mfapi.h>

/* sg_callbacks_descriptor - the smfiDesc to register */
struct smfiDesc *sg_callbacks_descriptor(void);

/* sg_callbacks_set_runtime - the runtime new messages use (takes a reference) */
void sg_callbacks_set_runtime(struct sg_runtime *rt);

struct sg_store;

/* sg_callbacks_set_store - the quarantine and statistics database (borrowed;
 * NULL: quarantine answers tempfail, no statistics) */
void sg_callbacks_set_store(struct sg_store *store);

#endif
