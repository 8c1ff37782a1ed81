/*
 * spf.h - SPF prediction with libspf2 (the only user of libspf2): the result
 * a receiver will compute for a sending IP and an envelope sender (or, for
 * the null sender, the HELO name), and the TXT lookups DMARC needs, through
 * the same DNS layer: the system resolver with a bounded timeout and a
 * cache shared by all threads, or, for tests, an in-memory zone.
 */
#ifndef SG_SPF_H
#define SG_SPF_H

#include "common.h"

struct sg_spf; /* opaque; thread-safe */

enum sg_spf_result {
    SG_SPF_NONE,      /* no SPF record */
    SG_SPF_NEUTRAL,   /* ?all or no match with ?all */
    SG_SPF_PASS,
    SG_SPF_FAIL,      /* -all */
    SG_SPF_SOFTFAIL,  /* ~all */
    SG_SPF_TEMPERROR, /* DNS did not answer (in time) */
    SG_SPF_PERMERROR, /* a broken record, or over an RFC 7208 4.6.4 limit */
};

/* sg_spf_new - on the system resolver (timeout_ms per query; answers cached
 * for their TTL, a DNS failure for 30 s) */
enum sg_rc sg_spf_new(unsigned timeout_ms, struct sg_spf **spf_r, char **error_r);

/* sg_spf_new_zone - on an in-memory zone (under the same cache), for tests: each entry is
 * "NAME TYPE DATA" with TYPE TXT, A, AAAA, MX or PTR, or "NAME NXDOMAIN",
 * or "NAME TEMPFAIL" (the DNS answers for NAME time out).  Names not listed
 * do not exist. */
enum sg_rc sg_spf_new_zone(const char *const *entries, size_t n, struct sg_spf **spf_r,
                           char **error_r);

/* sg_spf_free - NULL-safe, sets *spf to NULL */
void sg_spf_free(struct sg_spf **spf);

/* sg_spf_check - the SPF result for a message from ip (IPv4 or IPv6 text)
 * with envelope sender mail_from ("" = the null sender: then the HELO name
 * helo is checked, as receivers do).  *explain_r (caller frees, may be
 * NULL) gets one line for a person: which record said what, or which limit
 * was exceeded.  RFC 7208 4.6.4's limits give permerror, in evaluation
 * order (terms after the matching one do not count): more than 10
 * DNS-querying terms (include, a, mx, ptr, exists, redirect) over all
 * records, more than 2 void lookups (no such name, or no records), an mx
 * with more than 10 hosts; names of a PTR answer after the 10th are
 * ignored. */
enum sg_spf_result sg_spf_check(struct sg_spf *spf, const char *ip, const char *mail_from,
                                const char *helo, char **explain_r);

/* sg_spf_txt - the TXT strings of name (each record's strings joined),
 * through the same DNS layer and cache: SG_OK with *n_r >= 0 (0: the name
 * or its TXT records do not exist), SG_TEMP when DNS failed (caller frees
 * the array with sg_strv_free; it is NULL-terminated) */
enum sg_rc sg_spf_txt(struct sg_spf *spf, const char *name, char ***txts_r, size_t *n_r,
                      char **error_r);

/* sg_spf_result_name - "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" */
const char *sg_spf_result_name(enum sg_spf_result result);

#endif
