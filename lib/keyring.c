/*
 * keyring.c - domain to keys table.  Lookups are a linear scan per label of
 * the From domain: a site has a handful of signing domains.
 */
#include "keyring.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

struct ring_domain {
    char *name;
    struct sg_signing_key *keys;
    size_t nkeys;
};

struct sg_keyring {
    struct ring_domain *domains;
    size_t ndomains;
    struct sg_key **owned; /* every loaded key, for freeing */
    char **selectors;
    size_t nowned;
};

/* find_domain - exact (case-insensitive) domain entry or NULL */
static struct ring_domain *
find_domain(const struct sg_keyring *ring, const char *name)
{
    for (size_t i = 0; i < ring->ndomains; i++)
        if (strcasecmp(ring->domains[i].name, name) == 0)
            return &ring->domains[i];
    return NULL;
}

/* add_key - load a key file and file it under domain/selector */
static enum sg_rc
add_key(struct sg_keyring *ring, const char *domain, const char *selector, const char *file,
        uid_t uid, char **error_r)
{
    struct sg_key *key;
    char *error = NULL;
    enum sg_rc rc = sg_key_load(file, uid, &key, &error);
    if (rc != SG_OK) {
        *error_r = sg_xasprintf("domain %s, selector %s: %s", domain, selector, error);
        free(error);
        return rc;
    }

    struct ring_domain *d = find_domain(ring, domain);
    if (d == NULL) {
        ring->domains = sg_xrealloc(ring->domains, (ring->ndomains + 1) * sizeof(*ring->domains));
        d = &ring->domains[ring->ndomains++];
        d->name = sg_str_lower(sg_xstrdup(domain));
        d->keys = NULL;
        d->nkeys = 0;
    }
    for (size_t i = 0; i < d->nkeys; i++) {
        if (strcmp(d->keys[i].selector, selector) == 0) {
            *error_r = sg_xasprintf("key %s: domain %s already has a key with selector %s", file,
                                    domain, selector);
            sg_key_free(&key);
            return SG_PERM;
        }
    }
    ring->owned = sg_xrealloc(ring->owned, (ring->nowned + 1) * sizeof(*ring->owned));
    ring->selectors = sg_xrealloc(ring->selectors, (ring->nowned + 1) * sizeof(char *));
    ring->owned[ring->nowned] = key;
    ring->selectors[ring->nowned] = sg_xstrdup(selector);
    d->keys = sg_xrealloc(d->keys, (d->nkeys + 1) * sizeof(*d->keys));
    d->keys[d->nkeys].selector = ring->selectors[ring->nowned];
    d->keys[d->nkeys].key = key;
    d->nkeys++;
    ring->nowned++;
    return SG_OK;
}

/* name_sort - qsort comparator for directory entry names */
static int
name_sort(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sorted_entries - names in a directory, sorted, without dot files (caller frees) */
static char **
sorted_entries(const char *dir, size_t *n_r, int *errno_r)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        *errno_r = errno;
        return NULL;
    }
    char **names = sg_xcalloc(1, sizeof(char *)); /* non-NULL even when empty */
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        names = sg_xrealloc(names, (n + 1) * sizeof(char *));
        names[n++] = sg_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(char *), name_sort);
    *n_r = n;
    return names;
}

/* safe_dir - a directory that holds keys: a real directory (no symlink),
 * owned by root or the daemon's user, writable by nobody else.  Otherwise
 * whoever can write there could make sendguard load any key it points to. */
static bool
safe_dir(const char *dir, uid_t uid, char **error_r)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        *error_r = sg_xasprintf("key directory %s: %s", dir, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        *error_r = sg_xasprintf("key directory %s is not a directory (symbolic links are refused)",
                                dir);
        return false;
    }
    if ((st.st_uid != 0 && st.st_uid != uid) || (st.st_mode & 022) != 0) {
        *error_r = sg_xasprintf("key directory %s must belong to root (or the sendguard user) and "
                                "be writable by its owner only; fix: chown root %s && chmod "
                                "go-w %s",
                                dir, dir, dir);
        return false;
    }
    return true;
}

/* load_directory - key_directory/DOMAIN/SELECTOR.pem */
static enum sg_rc
load_directory(struct sg_keyring *ring, const char *dir, uid_t uid, char **error_r)
{
    size_t ndom = 0;
    int err = 0;
    char **domains = sorted_entries(dir, &ndom, &err);
    if (domains == NULL) {
        if (err == ENOENT)
            return SG_OK; /* no directory: no keys found there */
        *error_r = sg_xasprintf("key_directory %s: %s", dir, strerror(err));
        return SG_PERM;
    }
    enum sg_rc rc = safe_dir(dir, uid, error_r) ? SG_OK : SG_PERM;
    for (size_t i = 0; i < ndom && rc == SG_OK; i++) {
        char *sub = sg_xasprintf("%s/%s", dir, domains[i]);
        size_t nsel = 0;
        char **sels = NULL;
        if (!sg_config_valid_dns_name(domains[i])) {
            *error_r = sg_xasprintf("key directory %s: \"%s\" is not a domain name", dir,
                                    domains[i]);
            rc = SG_PERM;
        } else if (!safe_dir(sub, uid, error_r)) {
            rc = SG_PERM;
        } else {
            sels = sorted_entries(sub, &nsel, &err);
        }
        for (size_t k = 0; k < nsel; k++) {
            size_t len = strlen(sels[k]);
            if (rc == SG_OK && len > 4 && strcmp(sels[k] + len - 4, ".pem") == 0) {
                char *selector = sg_xstrndup(sels[k], len - 4);
                char *file = sg_xasprintf("%s/%s", sub, sels[k]);
                if (!sg_config_valid_dns_name(selector)) {
                    /* The selector goes into the signature's s= tag verbatim. */
                    *error_r = sg_xasprintf("key file %s: \"%s\" is not a selector (a DNS "
                                            "label such as s2026)",
                                            file, selector);
                    rc = SG_PERM;
                } else {
                    rc = add_key(ring, domains[i], selector, file, uid, error_r);
                }
                free(selector);
                free(file);
            }
            free(sels[k]);
        }
        free(sels);
        free(sub);
    }
    for (size_t i = 0; i < ndom; i++)
        free(domains[i]);
    free(domains);
    return rc;
}

/* sg_keyring_load - explicit keys first, then the key directory */
enum sg_rc
sg_keyring_load(const struct sg_config *cfg, uid_t uid, struct sg_keyring **ring_r, char **error_r)
{
    struct sg_keyring *ring = sg_xcalloc(1, sizeof(*ring));
    enum sg_rc rc = SG_OK;

    for (size_t i = 0; i < cfg->ndomains && rc == SG_OK; i++)
        for (size_t k = 0; k < cfg->domains[i].nkeys && rc == SG_OK; k++)
            rc = add_key(ring, cfg->domains[i].name, cfg->domains[i].keys[k].selector,
                         cfg->domains[i].keys[k].file, uid, error_r);
    if (rc == SG_OK && cfg->key_directory[0] != '\0')
        rc = load_directory(ring, cfg->key_directory, uid, error_r);
    if (rc != SG_OK) {
        sg_keyring_free(&ring);
        return rc;
    }
    *ring_r = ring;
    return SG_OK;
}

/* sg_keyring_free - free keys and tables */
void
sg_keyring_free(struct sg_keyring **rp)
{
    struct sg_keyring *ring = *rp;
    if (ring == NULL)
        return;
    for (size_t i = 0; i < ring->nowned; i++) {
        sg_key_free(&ring->owned[i]);
        free(ring->selectors[i]);
    }
    for (size_t i = 0; i < ring->ndomains; i++) {
        free(ring->domains[i].name);
        free(ring->domains[i].keys);
    }
    free(ring->owned);
    free(ring->selectors);
    free(ring->domains);
    free(ring);
    *rp = NULL;
}

/* sg_keyring_select - own domain first, then parents when allowed */
size_t
sg_keyring_select(const struct sg_keyring *ring, const char *from_domain, bool subdomains,
                  const struct sg_signing_key **keys_r, const char **d_r)
{
    const char *name = from_domain;
    while (name != NULL && *name != '\0') {
        const struct ring_domain *d = find_domain(ring, name);
        if (d != NULL) {
            *keys_r = d->keys;
            *d_r = d->name;
            return d->nkeys;
        }
        if (!subdomains)
            break;
        name = strchr(name, '.');
        if (name != NULL)
            name++;
        /* Never climb to a bare top-level label such as "nl". */
        if (name != NULL && strchr(name, '.') == NULL)
            break;
    }
    *keys_r = NULL;
    *d_r = NULL;
    return 0;
}

/* sg_keyring_domains - number of signing domains */
size_t
sg_keyring_domains(const struct sg_keyring *ring)
{
    return ring->ndomains;
}

/* sg_keyring_describe - one line per key, in domain order */
char *
sg_keyring_describe(const struct sg_keyring *ring, size_t i)
{
    for (size_t d = 0; d < ring->ndomains; d++) {
        if (i < ring->domains[d].nkeys) {
            const struct sg_signing_key *k = &ring->domains[d].keys[i];
            enum sg_key_alg alg = sg_key_alg(k->key);
            return sg_xasprintf("%s selector=%s %s-%d %s", ring->domains[d].name, k->selector,
                                alg == SG_KEY_ED25519 ? "ed25519" : "rsa", sg_key_bits(k->key),
                                sg_key_path(k->key));
        }
        i -= ring->domains[d].nkeys;
    }
    return NULL;
}
