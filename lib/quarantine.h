/*
 * quarantine.h - turning a message the milter holds into a quarantine row
 * (store.h), and a held row back into bytes to re-inject.
 *
 * The raw message is what the MTA showed the milter: every header field in
 * order ("Name:value" exactly as received, line breaks made CRLF), a blank
 * line, and the body bytes as received (CRLF, from the MTA).  That is what
 * a release sends back to the MTA.
 */
#ifndef SG_QUARANTINE_H
#define SG_QUARANTINE_H

#include "message.h"
#include "pipeline.h"
#include "store.h"

#include <time.h>

/* The header field that carries a release token back through the milter. */
#define SG_RELEASE_HEADER "X-Sendguard-Release"

/* A release token is valid this long after sendguardctl makes it. */
#define SG_RELEASE_TOKEN_TTL (10 * 60)

/* What the MTA said about the message besides its content. */
struct sg_envelope {
    const char *queue_id;    /* may be NULL */
    const char *client_addr; /* may be NULL */
    const char *env_from;    /* "" for the null sender */
    char *const *rcpts;
    size_t nrcpts;
};

/* sg_quarantine_record - fill *q (zeroed first; free with
 * sg_quarantine_record_clear) for msg: envelope, From and Subject, score,
 * top rule, the verdict as JSON, a fingerprint that is the same when the MTA
 * offers the same message again (the envelope, every header field but
 * Received, and the body), and the raw bytes as raw_len and raw_read: read
 * from msg when stored (never copied whole), so msg must outlive q.  SG_TEMP
 * when the body spool cannot be read. */
enum sg_rc sg_quarantine_record(struct sg_msg *msg, const struct sg_verdict *v,
                                const struct sg_envelope *env, time_t now,
                                struct sg_quarantined *q, char **error_r);

/* sg_quarantine_record_clear - free what sg_quarantine_record filled */
void sg_quarantine_record_clear(struct sg_quarantined *q);

/* sg_release_token - a new random token (64 hex digits, caller frees);
 * NULL with *error_r when the system has no randomness to give */
char *sg_release_token(char **error_r);

/* sg_release_message - the bytes to re-inject: the release header with
 * token first, then raw.  Line ends are CRLF (crlf) or LF (for a sendmail
 * program that reads lines).  Caller frees. */
char *sg_release_message(const unsigned char *raw, size_t raw_len, const char *token, bool crlf,
                         size_t *len_r);

#endif
