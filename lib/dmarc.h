/*
 * dmarc.h - DMARC prediction (RFC 7489) for one outgoing message, before it
 * leaves: the From domain's DMARC record (at the domain itself, else at its
 * organisational domain), alignment of the SPF domain and of the DKIM d=
 * sendguard will sign with, and what the receiver will then do.
 *
 * DNS goes through spf.h (one resolver, one cache); organisational domains
 * through psl.h.  Every type here is a plain value: nothing to free except
 * the strings the comments say the caller frees.  No global state; every
 * call is thread-safe when the struct sg_spf it is given is.
 *
 * Choices where RFC 7489 leaves room or where receivers differ, made here
 * once (tests in t/unit/test_dmarc.c hold them):
 *  - A record without a valid p= is invalid, even with a valid rua= (the
 *    §6.6.3 step 6 "act as p=none" rule is not applied: both outcomes are
 *    "no enforcement", and "invalid" tells the admin what to fix).
 *  - An invalid sp= makes the record invalid too (§6.6.3 step 6).
 *    Invalid adkim=, aspf= or pct= values fall back to their defaults
 *    (§6.3: "syntax errors in the remainder of the record SHOULD be
 *    discarded in favor of default values").
 *  - A known tag given twice makes the record invalid (RFC 7489 §6.4
 *    uses DKIM's tag-list syntax, RFC 6376 §3.2: "if a tag name does occur
 *    more than once, the entire tag-list is invalid").  Unknown tags and
 *    terms without '=' are ignored, repeated or not.
 *  - Tag names and the values of p, sp, adkim and aspf are
 *    case-insensitive; so is "DMARC1".  p= may come anywhere after v=.
 *  - An invalid record, or several records at one name, means no DMARC at
 *    the receiver (result none, the lookup status says why); neither makes
 *    the receiver look at the organisational domain (§6.6.3 step 3 falls
 *    back only when no record starts with v=DMARC1).
 */
#ifndef SG_DMARC_H
#define SG_DMARC_H

#include "common.h"
#include "spf.h"

/* Records longer than this are refused (a real one is under 300 bytes). */
#define SG_DMARC_RECORD_MAX 2048
/* Room for a domain name (253 characters) and its NUL, with margin. */
#define SG_DMARC_NAME_MAX 256

/* What a domain asks receivers to do with failing mail: p= and sp=.  In
 * order of strength (the "next lower" policy of pct= is one less). */
enum sg_dmarc_disp {
    SG_DMARC_DISP_NONE,
    SG_DMARC_DISP_QUARANTINE,
    SG_DMARC_DISP_REJECT,
};

/* One parsed DMARC record.  rua, ruf, fo, rf and ri are accepted and not kept. */
struct sg_dmarc_record {
    enum sg_dmarc_disp p;
    enum sg_dmarc_disp sp; /* p when the record has no sp= */
    bool sp_set;           /* the record has its own sp= */
    char adkim;            /* 'r' (relaxed, the default) or 's' (strict) */
    char aspf;             /* 'r' or 's' */
    unsigned pct;          /* 0..100, default 100 */
};

/* How discovery ended. */
enum sg_dmarc_lookup {
    SG_DMARC_LOOKUP_NONE,      /* no record at the From domain nor at its organisational domain */
    SG_DMARC_LOOKUP_FOUND,     /* one valid record */
    SG_DMARC_LOOKUP_INVALID,   /* one record that does not parse: no DMARC at the receiver */
    SG_DMARC_LOOKUP_MULTIPLE,  /* several records at one name: no DMARC at the receiver */
    SG_DMARC_LOOKUP_TEMPERROR, /* DNS failed: the receiver cannot evaluate DMARC now */
};

/* The result of discovery for one From domain. */
struct sg_dmarc_policy {
    enum sg_dmarc_lookup lookup;
    struct sg_dmarc_record record; /* meaningful only when lookup is FOUND */
    /* where the record(s) were found, or for NONE the last domain asked,
     * for TEMPERROR the domain whose lookup failed: lower case, no
     * "_dmarc." and no trailing dot */
    char domain[SG_DMARC_NAME_MAX];
    bool from_org;   /* domain is the organisational domain, not the From domain */
    unsigned nfound; /* records starting with v=DMARC1 at domain (2+ for MULTIPLE) */
    /* INVALID: the parse error; TEMPERROR: the DNS error; else "".  ASCII, one line. */
    char detail[160];
};

enum sg_dmarc_result {
    SG_DMARC_RESULT_NONE,      /* no usable record: no DMARC at the receiver */
    SG_DMARC_RESULT_PASS,      /* SPF or DKIM aligned */
    SG_DMARC_RESULT_FAIL,      /* neither aligned: the policy applies */
    SG_DMARC_RESULT_TEMPERROR, /* discovery failed temporarily */
};

/* What the receiver will conclude.  The domain fields are copies of the
 * inputs (lower case; truncated if longer than a domain name can be), kept
 * so that sg_dmarc_explain needs nothing else. */
struct sg_dmarc_prediction {
    enum sg_dmarc_result result;
    enum sg_dmarc_lookup lookup; /* from the policy (NONE when there was none) */
    bool spf_aligned;            /* SPF pass and the SPF domain aligned per aspf */
    bool dkim_aligned;           /* a d= and it is aligned per adkim (the signature will verify) */
    /* The policy a failing message meets, whatever the result: the record's
     * p, or its sp when the record came from the organisational domain.  It
     * applies to pct % of failing mail, policy_rest to the others (RFC
     * 7489 §6.6.4).  Without a found record: none, 100, none. */
    enum sg_dmarc_disp policy;
    unsigned pct;
    enum sg_dmarc_disp policy_rest;
    bool subdomain_policy; /* policy is the record's sp (the From domain is a subdomain) */
    bool sp_set;           /* the record had its own sp= */
    char aspf, adkim;      /* modes used: the record's, else 'r' */
    enum sg_spf_result spf;
    char from_domain[SG_DMARC_NAME_MAX];
    char spf_domain[SG_DMARC_NAME_MAX];  /* "" when none was given */
    char dkim_domain[SG_DMARC_NAME_MAX]; /* "" when sendguard will not sign */
    char record_domain[SG_DMARC_NAME_MAX];
    unsigned nfound;
    char detail[160];
};

/* sg_dmarc_parse - parse the DMARC TXT record txt (NUL-terminated, read no
 * further than SG_DMARC_RECORD_MAX + 1 bytes) into *r.  SG_OK, or SG_PERM
 * with *error_r (caller frees; error_r may be NULL) saying what is wrong:
 * not starting with v=DMARC1, longer than SG_DMARC_RECORD_MAX, "no valid p=
 * tag", an invalid sp=, a known tag twice.  txt NULL is SG_PERM.  *r is
 * meaningful only on SG_OK. */
enum sg_rc sg_dmarc_parse(const char *txt, struct sg_dmarc_record *r, char **error_r);

/* sg_dmarc_is_record - does this TXT string claim to be a DMARC record
 * (v=DMARC1 first, any case, blanks around '=')?  Only those count in
 * discovery, valid or not.  NULL is not. */
bool sg_dmarc_is_record(const char *txt);

/* sg_dmarc_discover - the DMARC policy for from_domain (any case, a
 * trailing dot allowed): the TXT of _dmarc.<from_domain> through dns; if
 * none of its strings is a DMARC record, the same at the organisational
 * domain when that differs (mail.example.co.uk -> example.co.uk).  Fills
 * *out in every case and returns:
 *   SG_OK    lookup FOUND, NONE, INVALID or MULTIPLE;
 *   SG_TEMP  lookup TEMPERROR (DNS failed), with *error_r;
 *   SG_PERM  from_domain is no domain name (empty, empty labels, a label
 *            over 63 or a name over 246 characters), with *error_r,
 *            lookup NONE.
 * *error_r: caller frees; error_r may be NULL.  dns must not be NULL. */
enum sg_rc sg_dmarc_discover(struct sg_spf *dns, const char *from_domain,
                             struct sg_dmarc_policy *out, char **error_r);

/* sg_dmarc_aligned - are domains a and b aligned in mode 's' (strict: the
 * same name, any case, a trailing dot ignored) or 'r' (relaxed: the same
 * organisational domain; any other mode counts as 'r', the RFC default)?
 * NULL, empty or longer than a domain name: not aligned. */
bool sg_dmarc_aligned(const char *a, const char *b, char mode);

/* sg_dmarc_predict - what the receiver will conclude for a message with
 * From domain from_domain, given the discovered policy (NULL: none was
 * looked up, as lookup NONE), the SPF result for spf_domain (the envelope
 * sender's domain, or the HELO name for the null sender; NULL: none) and
 * the d= sendguard will sign with (NULL: it will not sign; its signature
 * is assumed to verify).  NULL from_domain aligns with nothing.  Fills *out. */
void sg_dmarc_predict(const struct sg_dmarc_policy *policy, const char *from_domain,
                      enum sg_spf_result spf, const char *spf_domain, const char *dkim_domain,
                      struct sg_dmarc_prediction *out);

/* sg_dmarc_explain - one ASCII line for a person or an SMTP reply, e.g.
 * "mijnbakkerij.nl publishes DMARC p=reject; SPF fail for mijnbakkerij.nl
 * from 203.0.113.25 and no aligned DKIM signature: the receiver will reject
 * it".  ip is the sending address for the SPF part (NULL: left out).
 * Caller frees. */
char *sg_dmarc_explain(const struct sg_dmarc_prediction *pred, const char *ip);

/* sg_dmarc_disp_name - "none", "quarantine", "reject" */
const char *sg_dmarc_disp_name(enum sg_dmarc_disp disp);

/* sg_dmarc_result_name - "none", "pass", "fail", "temperror" (as in the log line: dmarc=pass) */
const char *sg_dmarc_result_name(enum sg_dmarc_result result);

/* sg_dmarc_lookup_name - "none", "found", "invalid", "multiple", "temperror" */
const char *sg_dmarc_lookup_name(enum sg_dmarc_lookup lookup);

#endif
