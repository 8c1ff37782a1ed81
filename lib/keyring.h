/*
 * keyring.h - which keys sign for which domain.  Built once from the
 * configuration (explicit domain blocks plus key_directory/DOMAIN/SELECTOR.pem
 * files), immutable afterwards and shared by all threads.
 */
#ifndef SG_KEYRING_H
#define SG_KEYRING_H

#include "config.h"
#include "key.h"

#include <sys/types.h>

struct sg_signing_key {
    const char *selector;
    const struct sg_key *key;
};

struct sg_keyring;

/* sg_keyring_load - load every configured key, refusing unsafe or unreadable
 * files.  allowed_uid is the uid the daemon will run as.  On error *error_r
 * names the file and the fix (caller frees). */
enum sg_rc sg_keyring_load(const struct sg_config *cfg, uid_t allowed_uid,
                           struct sg_keyring **ring_r, char **error_r);
void sg_keyring_free(struct sg_keyring **ring);

/* sg_keyring_select - the keys for a From domain: its own, or with
 * subdomains enabled those of the nearest parent that has keys.  Returns the
 * number of keys (0: none); *keys_r and *d_r (the signing domain) are borrowed. */
size_t sg_keyring_select(const struct sg_keyring *ring, const char *from_domain, bool subdomains,
                         const struct sg_signing_key **keys_r, const char **d_r);

/* sg_keyring_domains - how many domains have keys */
size_t sg_keyring_domains(const struct sg_keyring *ring);

/* sg_keyring_describe - "example.nl s2026 rsa-2048 /path" for line i of a listing (caller frees);
 * NULL past the end */
char *sg_keyring_describe(const struct sg_keyring *ring, size_t i);

#endif
