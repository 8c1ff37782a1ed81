/*
 * key.h - DKIM private keys on disk: the safety check every key file must
 * pass (owner root or the daemon's user, no group or world access), loading
 * and identifying a key (RSA or Ed25519), generating new keys, and the DNS
 * TXT record that publishes the public half.  The only user of OpenSSL.
 *
 * A loaded key is immutable; any thread may use it.
 */
#ifndef SG_KEY_H
#define SG_KEY_H

#include "common.h"

#include <sys/types.h>

enum sg_key_alg { SG_KEY_RSA, SG_KEY_ED25519 };

struct sg_key;

/* sg_key_check_file - is the file safe to hold a private key?  SG_PERM and a
 * message naming the file and the fix (caller frees *error_r) when not. */
enum sg_rc sg_key_check_file(const char *path, uid_t allowed_uid, char **error_r);

/* sg_key_load - check, read and parse a PEM private key; caller frees *error_r */
enum sg_rc sg_key_load(const char *path, uid_t allowed_uid, struct sg_key **key_r, char **error_r);
void sg_key_free(struct sg_key **key);

enum sg_key_alg sg_key_alg(const struct sg_key *key);
/* sg_key_alg_name - "rsa-sha256" or "ed25519-sha256", as in a=  */
const char *sg_key_alg_name(enum sg_key_alg alg);
/* sg_key_bits - key size in bits (256 for Ed25519) */
int sg_key_bits(const struct sg_key *key);
/* sg_key_path - the file the key came from (borrowed) */
const char *sg_key_path(const struct sg_key *key);

/* sg_key_signing_data - the PEM bytes handed to libopendkim as the secret
 * key (borrowed; NUL-terminated; libopendkim parses PEM for both algorithms) */
const unsigned char *sg_key_signing_data(const struct sg_key *key, size_t *len_r);

/* sg_key_dns_value - the TXT value "v=DKIM1; k=...; p=..." (caller frees) */
char *sg_key_dns_value(const struct sg_key *key);

/* sg_key_crypto_version - the OpenSSL version in use, for sendguard -V (borrowed) */
const char *sg_key_crypto_version(void);

/* sg_key_generate - write a new private key to path (mode 0600, not
 * overwriting); bits is for RSA only.  Caller frees *error_r. */
enum sg_rc sg_key_generate(const char *path, enum sg_key_alg alg, int bits, char **error_r);

#endif
