/*
 * mime.h - what sendguard needs from GMime: the address in a From header
 * (RFC 5322 mailbox lists, groups, comments, RFC 2047 display names), and
 * the analysis of a whole message for content scoring (struct sg_content:
 * decoded text of every text part, links, attachments, header words,
 * malformations).  The only user of GMime.  sg_mime_init must run once
 * before threads start; afterwards the calls are thread-safe (each call
 * works on its own objects).
 */
#ifndef SG_MIME_H
#define SG_MIME_H

#include "common.h"
#include "content.h"
#include "message.h"

/* Levels of multipart and message/rfc822 nesting analysed; deeper parts are
 * skipped and the skip is recorded as a malformation. */
#define SG_MIME_MAX_DEPTH 8
/* MIME parts (containers and leaves) analysed per message. */
#define SG_MIME_MAX_PARTS 2000
/* Malformations listed per message (identical ones are listed once). */
#define SG_MIME_MAX_MALFORMATIONS 32

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

/* sg_mime_from_via - the From field value (with its leading space) for a
 * message sent on behalf of the one mailbox in from_value by relay_addr:
 * " \"Bakkerij Jansen via relay.example\" <relay@relay.example>"; the name
 * is the original display name (or, without one, the original address),
 * RFC 2047-encoded when it is not ASCII.  NULL when from_value does not hold
 * exactly one mailbox.  Caller frees. */
char *sg_mime_from_via(const char *from_value, const char *relay_addr, const char *relay_domain);

/* sg_addr_domain - the domain of an address, lower case, no trailing dot
 * (caller frees); NULL when there is no '@' or the domain is empty */
char *sg_addr_domain(const char *addr);

/* sg_mime_analyse - parse the message (header fields and body spool of msg)
 * and say what it contains, for content scoring.  Returns SG_OK and a new
 * *content_r (caller frees with sg_content_free) for every input, however
 * malformed: what could not be read is recorded in its malformations.
 * Returns SG_TEMP with *error_r (caller frees) and *content_r NULL only when
 * the body spool cannot be read. */
enum sg_rc sg_mime_analyse(struct sg_msg *msg, struct sg_content **content_r, char **error_r);

#endif
