/*
 * origin.c - outgoing or not.
 */
#include "origin.h"

#include <string.h>

/* sg_origin_classify - authenticated, internal host or originating daemon */
enum sg_origin
sg_origin_classify(const struct sg_config *cfg, const char *client_addr, const char *auth_authen,
                   const char *daemon_name)
{
    if (auth_authen != NULL && *auth_authen != '\0')
        return SG_ORIGIN_AUTH;
    if (client_addr != NULL && sg_cidr_list_match(cfg->internal_hosts, client_addr))
        return SG_ORIGIN_INTERNAL;
    if (daemon_name != NULL)
        for (size_t i = 0; i < cfg->n_originating_daemons; i++)
            if (strcmp(cfg->originating_daemons[i], daemon_name) == 0)
                return SG_ORIGIN_DAEMON;
    return SG_ORIGIN_INBOUND;
}

/* sg_origin_name - for the log line */
const char *
sg_origin_name(enum sg_origin origin)
{
    static const char *const names[] = {"inbound", "auth", "internal", "daemon"};
    return (size_t)origin < SG_NELEM(names) ? names[origin] : "?";
}
