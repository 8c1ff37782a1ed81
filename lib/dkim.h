/*
 * dkim.h - DKIM signing through libopendkim, the only user of it.
 *
 * One struct sg_dkim per configuration (it holds the library handle with the
 * header lists and canonicalization); any number of threads sign with it at
 * once.  A message is signed by several keys in one pass over its body.
 */
#ifndef SG_DKIM_H
#define SG_DKIM_H

#include "config.h"
#include "keyring.h"
#include "message.h"

#include <time.h>

struct sg_dkim;

/* sg_dkim_new - a signer for this configuration; caller frees *error_r */
enum sg_rc sg_dkim_new(const struct sg_config *cfg, struct sg_dkim **dkim_r, char **error_r);
void sg_dkim_free(struct sg_dkim **dkim);

/* sg_dkim_set_time - tests: sign as if it were this time (t=) */
void sg_dkim_set_time(struct sg_dkim *dkim, time_t now);

/* sg_dkim_sign - one DKIM-Signature per key for domain d over msg as it
 * stands.  sigs_r gets nkeys header values (without "DKIM-Signature:",
 * folded with bare LF+TAB, never CR, as a milter must hand them to the MTA);
 * the caller frees each and the array.  SG_INTERNAL when
 * libopendkim refuses (message in *error_r, caller frees), SG_TEMP when the
 * body spool cannot be read. */
enum sg_rc sg_dkim_sign(struct sg_dkim *dkim, struct sg_msg *msg, const char *d,
                        const struct sg_signing_key *keys, size_t nkeys, char ***sigs_r,
                        char **error_r);

/* sg_dkim_version - libopendkim's version as text, for sendguard -V */
const char *sg_dkim_version(void);

#endif
