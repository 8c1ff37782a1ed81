/*
 * origin.h - is a message outgoing?  A pure function of what the MTA tells
 * about the connection and the configuration.
 */
#ifndef SG_ORIGIN_H
#define SG_ORIGIN_H

#include "config.h"

enum sg_origin {
    SG_ORIGIN_INBOUND,  /* none of the below: passes untouched */
    SG_ORIGIN_AUTH,     /* SMTP AUTH ({auth_authen}) */
    SG_ORIGIN_INTERNAL, /* client address in internal_hosts (also local submission) */
    SG_ORIGIN_DAEMON,   /* {daemon_name} in originating_daemons */
};

/* sg_origin_classify - any argument may be NULL (macro not sent) */
enum sg_origin sg_origin_classify(const struct sg_config *cfg, const char *client_addr,
                                  const char *auth_authen, const char *daemon_name);

/* sg_origin_name - "inbound", "auth", "internal", "daemon" */
const char *sg_origin_name(enum sg_origin origin);

#endif
