/*
 * reinject.h - hand a message back to the MTA, for `sendguardctl quarantine
 * release`: by SMTP to a configured address, or by executing the MTA's
 * sendmail program directly (fork and exec, never a shell).
 *
 * Either way the MTA has accepted the message when SG_OK returns, and has
 * not when anything else does (a recipient refused means nothing is sent).
 */
#ifndef SG_REINJECT_H
#define SG_REINJECT_H

#include "common.h"

/* Seconds to wait for each SMTP reply (RFC 5321 suggests minutes; a local
 * MTA answers at once, and a milter it runs has its own timeouts). */
#define SG_REINJECT_TIMEOUT 120

/* sg_reinject_smtp - deliver data (CRLF line ends, not dot-stuffed) from
 * env_from ("" = null sender) to rcpts through the SMTP server at
 * host:port.  On SG_OK *reply_r (caller frees, may be NULL) is the server's
 * final reply ("250 2.0.0 Ok: queued as 4Xyz").  SG_PERM: the server
 * refused (a 5xx); SG_TEMP: it cannot be reached, timed out or said 4xx.
 * *error_r (caller frees) then says which step failed and what the server
 * answered.  *unknown_r (may be NULL) is set when the whole message was sent
 * but no answer came (timeout, connection lost): the server may have
 * queued it.  Non-ASCII addresses go with SMTPUTF8 when the server offers it. */
enum sg_rc sg_reinject_smtp(const char *host, const char *port, const char *env_from,
                            char *const *rcpts, size_t nrcpts, const char *data, size_t len,
                            char **reply_r, bool *unknown_r, char **error_r);

/* sg_reinject_sendmail - run `PATH -i -f SENDER -- RCPT...` with data (LF
 * line ends) on its standard input; SG_OK when it exits 0, SG_TEMP with its
 * exit status otherwise (it printed its own reason on standard error) */
enum sg_rc sg_reinject_sendmail(const char *path, const char *env_from, char *const *rcpts,
                                size_t nrcpts, const char *data, size_t len, char **error_r);

/* sg_reinject_valid_address - can this be put in MAIL FROM or RCPT TO as
 * <addr> (no white space, control characters or angle brackets)? */
bool sg_reinject_valid_address(const char *addr);

#endif
