/*
 * dkim.c - libopendkim wrapper: the signing pipeline
 *     dkim_sign -> dkim_header... -> dkim_eoh -> dkim_body... -> dkim_eom -> dkim_getsighdr_d
 * run for several keys side by side.
 */
#include "dkim.h"

#include <opendkim/dkim.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The length of "DKIM-Signature: ", so that folding leaves room for the name. */
#define SIG_PREFIX_LEN 16
/* Width of the b= lines when sendguard folds them itself (simple header canonicalization). */
#define B_FOLD_WIDTH 72

struct sg_dkim {
    DKIM_LIB *lib;
    dkim_canon_t hcanon, bcanon;
    const char **sign_headers;     /* NULL-terminated, for DKIM_OPTS_SIGNHDRS */
    const char **oversign_headers; /* NULL-terminated, for DKIM_OPTS_OVERSIGNHDRS */
};

/* header_array - NULL-terminated copy of a list, with From added when missing */
static const char **
header_array(char **list, size_t n, bool need_from)
{
    const char **out = sg_xcalloc(n + 2, sizeof(char *));
    bool has_from = false;
    for (size_t i = 0; i < n; i++) {
        out[i] = list[i];
        if (strcasecmp(list[i], "from") == 0)
            has_from = true;
    }
    if (need_from && !has_from)
        out[n] = "From";
    return out;
}

/* sg_dkim_new - library handle with this configuration's options */
enum sg_rc
sg_dkim_new(const struct sg_config *cfg, struct sg_dkim **dkim_r, char **error_r)
{
    struct sg_dkim *d = sg_xcalloc(1, sizeof(*d));
    d->lib = dkim_init(NULL, NULL);
    if (d->lib == NULL) {
        free(d);
        *error_r = sg_xstrdup("libopendkim: dkim_init failed");
        return SG_INTERNAL;
    }
    d->hcanon = cfg->header_canon == SG_CANON_RELAXED ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
    d->bcanon = cfg->body_canon == SG_CANON_RELAXED ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
    d->sign_headers = header_array(cfg->sign_headers, cfg->n_sign_headers, true);
    d->oversign_headers = header_array(cfg->oversign_headers, cfg->n_oversign_headers, false);

    /* FIXCRLF: a body line ending in a bare LF is hashed as CRLF, as it will be sent. */
    unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;
    if (dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) !=
            DKIM_STAT_OK ||
        dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, d->sign_headers,
                     sizeof(d->sign_headers)) != DKIM_STAT_OK ||
        dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, d->oversign_headers,
                     sizeof(d->oversign_headers)) != DKIM_STAT_OK) {
        *error_r = sg_xstrdup("libopendkim refused the header lists or flags");
        sg_dkim_free(&d);
        return SG_INTERNAL;
    }
    *dkim_r = d;
    return SG_OK;
}

/* sg_dkim_free - close the library handle */
void
sg_dkim_free(struct sg_dkim **dp)
{
    struct sg_dkim *d = *dp;
    if (d == NULL)
        return;
    if (d->lib != NULL)
        dkim_close(d->lib);
    free(d->sign_headers);
    free(d->oversign_headers);
    free(d);
    *dp = NULL;
}

/* sg_dkim_set_time - fixed clock for reproducible tests */
void
sg_dkim_set_time(struct sg_dkim *d, time_t now)
{
    uint64_t t = (uint64_t)now;
    (void)dkim_options(d->lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &t, sizeof(t));
}

/* sg_dkim_version - libopendkim version string */
const char *
sg_dkim_version(void)
{
    static char buf[32];
    uint32_t v = dkim_libversion();
    snprintf(buf, sizeof(buf), "%u.%u.%u", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff);
    return buf;
}

/* header_line - "Name:value" with every line break as CRLF, as it will be sent */
static char *
header_line(const char *name, const char *value, size_t *len_r)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *out = sg_xmalloc(nl + 1 + 2 * vl + 1);
    size_t o = 0;
    memcpy(out, name, nl);
    o = nl;
    out[o++] = ':';
    for (size_t i = 0; i < vl; i++) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = value[i];
    }
    out[o] = '\0';
    *len_r = o;
    return out;
}

/* lf_only - a header value for the MTA: line breaks as bare LF (caller frees).
 * dkim_getsighdr_d folds with CRLF+TAB; a milter must hand Postfix LF only,
 * or the CR stays in the queue file and goes on the wire as CR CR LF, which
 * breaks the signature at every receiver that reads the raw bytes. */
static char *
lf_only(const char *value, size_t len)
{
    char *out = sg_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        if (!(value[i] == '\r' && i + 1 < len && value[i + 1] == '\n'))
            out[o++] = value[i];
    out[o] = '\0';
    return out;
}

/* fold_b_value - fold only inside the b= value (the last tag) of an unfolded
 * signature.  Verifiers delete the b= value with all whitespace in it before
 * hashing, so these folds cannot change what the signature covers.
 *
 * Why: libopendkim 2.11 hashes its own DKIM-Signature field folded
 * differently from what dkim_getsighdr_d returns (the fold before b= depends
 * on the length of the value), so with simple header canonicalization a
 * folded signature fails verification now and then (seen with Ed25519).
 * Unfolded (margin 0) the two agree; folding inside b= keeps lines short. */
static char *
fold_b_value(const char *sig, size_t len)
{
    const char *b = NULL;
    for (const char *p = sig; p + 2 <= sig + len; p++)
        if ((p == sig || p[-1] == ' ' || p[-1] == ';' || p[-1] == '\t') && p[0] == 'b' &&
            p[1] == '=')
            b = p;
    if (b == NULL)
        return sg_xstrndup(sig, len);
    size_t head = (size_t)(b - sig) + 2, rest = len - head;
    char *out = sg_xmalloc(len + 2 * (rest / B_FOLD_WIDTH + 2) + 1);
    memcpy(out, sig, head);
    size_t o = head;
    for (size_t i = 0; i < rest; i++) {
        if (i > 0 && i % B_FOLD_WIDTH == 0) {
            memcpy(out + o, "\n\t", 2);
            o += 2;
        }
        out[o++] = b[2 + i];
    }
    out[o] = '\0';
    return out;
}

struct body_feed {
    DKIM **handles;
    size_t n;
    DKIM_STAT status;
    size_t failed; /* index of the handle that failed */
};

/* feed_body - spool reader: give each chunk to every signer */
static bool
feed_body(const void *data, size_t len, void *arg)
{
    struct body_feed *f = arg;
    for (size_t i = 0; i < f->n; i++) {
        DKIM_STAT st = dkim_body(f->handles[i], (unsigned char *)data, len);
        if (st != DKIM_STAT_OK) {
            f->status = st;
            f->failed = i;
            return false;
        }
    }
    return true;
}

/* fail - build the error for a libopendkim status on handle h */
static enum sg_rc
fail(DKIM *h, const char *stage, DKIM_STAT st, const struct sg_signing_key *key, char **error_r)
{
    const char *detail = h != NULL ? dkim_geterror(h) : NULL;
    *error_r = sg_xasprintf("DKIM %s with selector %s (%s): %s%s%s", stage, key->selector,
                            sg_key_path(key->key), dkim_getresultstr(st),
                            detail != NULL ? ": " : "", detail != NULL ? detail : "");
    return SG_INTERNAL;
}

/* sg_dkim_sign - sign with every key in one pass */
enum sg_rc
sg_dkim_sign(struct sg_dkim *d, struct sg_msg *msg, const char *domain,
             const struct sg_signing_key *keys, size_t nkeys, char ***sigs_r, char **error_r)
{
    DKIM **h = sg_xcalloc(nkeys, sizeof(DKIM *));
    enum sg_rc rc = SG_OK;
    size_t i;

    for (i = 0; i < nkeys; i++) {
        DKIM_STAT st;
        size_t keylen;
        const unsigned char *secret = sg_key_signing_data(keys[i].key, &keylen);
        dkim_alg_t alg = sg_key_alg(keys[i].key) == SG_KEY_ED25519 ? DKIM_SIGN_ED25519SHA256
                                                                   : DKIM_SIGN_RSASHA256;
        h[i] = dkim_sign(d->lib, (const unsigned char *)"sendguard", NULL, (dkim_sigkey_t)secret,
                         (const unsigned char *)keys[i].selector, (const unsigned char *)domain,
                         d->hcanon, d->bcanon, alg, -1, &st);
        if (h[i] == NULL) {
            rc = fail(NULL, "setup", st, &keys[i], error_r);
            goto out;
        }
        /* Simple header canonicalization: unfolded, see fold_b_value.  (The
         * margin must be set before the signature is computed.) */
        if (d->hcanon == DKIM_CANON_SIMPLE && (st = dkim_set_margin(h[i], 0)) != DKIM_STAT_OK) {
            rc = fail(h[i], "setup", st, &keys[i], error_r);
            goto out;
        }
    }

    for (size_t f = 0; f < sg_msg_header_count(msg); f++) {
        size_t len;
        char *line = header_line(sg_msg_header_name(msg, f), sg_msg_header_value(msg, f), &len);
        for (i = 0; i < nkeys; i++) {
            DKIM_STAT st = dkim_header(h[i], (unsigned char *)line, len);
            if (st != DKIM_STAT_OK) {
                free(line);
                rc = fail(h[i], "header", st, &keys[i], error_r);
                goto out;
            }
        }
        free(line);
    }
    for (i = 0; i < nkeys; i++) {
        DKIM_STAT st = dkim_eoh(h[i]);
        if (st != DKIM_STAT_OK) {
            rc = fail(h[i], "end of header", st, &keys[i], error_r);
            goto out;
        }
    }

    struct body_feed feed = {h, nkeys, DKIM_STAT_OK, 0};
    rc = sg_spool_read(sg_msg_body(msg), feed_body, &feed, error_r);
    if (rc != SG_OK)
        goto out;
    if (feed.status != DKIM_STAT_OK) {
        rc = fail(h[feed.failed], "body", feed.status, &keys[feed.failed], error_r);
        goto out;
    }

    char **sigs = sg_xcalloc(nkeys + 1, sizeof(char *));
    for (i = 0; i < nkeys; i++) {
        unsigned char *buf;
        size_t len;
        DKIM_STAT st = dkim_eom(h[i], NULL);
        if (st == DKIM_STAT_OK)
            st = dkim_getsighdr_d(h[i], SIG_PREFIX_LEN, &buf, &len);
        if (st != DKIM_STAT_OK) {
            rc = fail(h[i], "signing", st, &keys[i], error_r);
            for (size_t j = 0; j < i; j++)
                free(sigs[j]);
            free(sigs);
            goto out;
        }
        sigs[i] = d->hcanon == DKIM_CANON_SIMPLE ? fold_b_value((const char *)buf, len)
                                                 : lf_only((const char *)buf, len);
    }
    *sigs_r = sigs;

out:
    for (i = 0; i < nkeys; i++)
        if (h[i] != NULL)
            dkim_free(h[i]);
    free(h);
    return rc;
}
