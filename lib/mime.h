/*
 * mime.h - what sendguard needs from GMime: for now, the address in a From
 * header (RFC 5322 mailbox lists, groups, comments, RFC 2047 display names).
 * The only user of GMime.  sg_mime_init must run once before threads start;
 * afterwards the calls are thread-safe.
 */
#ifndef SG_MIME_H
#define SG_MIME_H

#include "common.h"

enum sg_from_status {
    SG_FROM_ONE,      /* exactly one mailbox */
    SG_FROM_NONE,     /* no address at all (empty or unparsable) */
    SG_FROM_MULTIPLE, /* more than one mailbox */
};

/* sg_mime_init - initialise GMime once per process */
void sg_mime_init(void);

/* sg_mime_from - parse a From header value.  With SG_FROM_ONE, *addr_r is the
 * address (local@domain, caller frees); otherwise *addr_r is NULL. */
enum sg_from_status sg_mime_from(const char *value, char **addr_r);

/* sg_addr_domain - the domain of an address, lower case, no trailing dot
 * (caller frees); NULL when there is no '@' or the domain is empty */
char *sg_addr_domain(const char *addr);

#endif
