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

/* A release token is valid this long after sendguardctl makes it: by SMTP
 * the milter sees the message before the MTA answers; through sendmail it
 * may wait in the MTA's queue (sendguard down, a tempfail) first. */
#define SG_RELEASE_TOKEN_TTL_SMTP (10 * 60)
#define SG_RELEASE_TOKEN_TTL_SENDMAIL (24 * 3600)

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
 * from msg when stored (never copied whole), so msg must outlive q.  Any
 * release header is left out of both (it must never be stored).  SG_TEMP
 * when the body spool cannot be read. */
enum sg_rc sg_quarantine_record(struct sg_msg *msg, const struct sg_verdict *v,
                                const struct sg_envelope *env, time_t now,
                                struct sg_quarantined *q, char **error_r);

/* sg_quarantine_body_hash - SHA-256 (hex, caller frees) of the body with
 * every CR left out (line ends differ between SMTP and sendmail) and no
 * empty lines at its end (an SMTP client may add one); NULL
 * with *error_r when the spool cannot be read.  A release token is bound
 * to it. */
char *sg_quarantine_body_hash(struct sg_msg *msg, char **error_r);

/* sg_quarantine_raw_body_hash - the same hash for the body of a whole raw
 * message (what follows the first empty line) */
char *sg_quarantine_raw_body_hash(const unsigned char *raw, size_t len);

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
