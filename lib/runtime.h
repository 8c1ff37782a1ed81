/*
 * runtime.h - everything shared read-only by the milter's threads: the
 * configuration, the loaded keys, the DKIM library handle and the compiled
 * content rules.  Reference
 * counted, so a reload (SIGHUP) can swap in a new one while messages in
 * flight finish with the old.
 */
#ifndef SG_RUNTIME_H
#define SG_RUNTIME_H

#include "config.h"
#include "dkim.h"
#include "keyring.h"
#include "rules.h"
#include "spf.h"

#include <sys/types.h>

struct sg_runtime {
    const struct sg_config *cfg;
    const struct sg_keyring *keys;
    struct sg_dkim *dkim;
    const struct sg_rules *rules; /* content rules; NULL when scoring { rules = "" } */
    struct sg_spf *spf;           /* SPF/DMARC DNS; NULL without alignment { egress_ips } */
    /* private */
    int refs;
};

/* sg_runtime_new - load keys and set up DKIM for cfg, taking ownership of
 * cfg (freed on failure too).  uid is the user the daemon runs as (key file
 * ownership).  Caller frees *error_r. */
enum sg_rc sg_runtime_new(struct sg_config *cfg, uid_t uid, struct sg_runtime **rt_r,
                          char **error_r);

/* sg_runtime_load_rules - compile the configuration's rules file (*rules_r
 * NULL when it is ""); for tools that need the rules but not the keys */
enum sg_rc sg_runtime_load_rules(const struct sg_config *cfg, struct sg_rules **rules_r,
                                 char **error_r);

/* sg_runtime_ref - one more holder */
struct sg_runtime *sg_runtime_ref(struct sg_runtime *rt);

/* sg_runtime_unref - one holder less; the last frees it.  Sets *rt to NULL. */
void sg_runtime_unref(struct sg_runtime **rt);

#endif
