/*
 * dmarc.c - DMARC record parsing, policy discovery, identifier alignment and
 * the receiver's conclusion.  The record is read in place as spans (start,
 * length) of a string whose length was bounded first, so nothing is copied
 * and nothing past the record is read.  The choices RFC 7489 leaves open
 * are listed in dmarc.h.
 */
#include "dmarc.h"

#include "psl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A piece of the record: not NUL-terminated. */
struct span {
    const char *s;
    size_t n;
};

/* The tags whose repetition makes a record invalid (RFC 6376 §3.2). */
enum tag {
    TAG_V,
    TAG_P,
    TAG_SP,
    TAG_ADKIM,
    TAG_ASPF,
    TAG_PCT,
    TAG_RUA,
    TAG_RUF,
    TAG_FO,
    TAG_RF,
    TAG_RI,
    TAG_UNKNOWN,
};

static const char *const tag_names[] = {"v",   "p",   "sp", "adkim", "aspf", "pct",
                                        "rua", "ruf", "fo", "rf",    "ri"};

static const char *const disp_names[] = {"none", "quarantine", "reject"};

/* set_error - *error_r = a new string, when the caller wants one */
static void set_error(char **error_r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
set_error(char **error_r, const char *fmt, ...)
{
    if (error_r == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = sg_xstrdup("out of memory formatting an error");
    va_end(ap);
    *error_r = msg;
}

/* is_wsp - blanks allowed around tags and values (TXT data may hold CR/LF too) */
static bool
is_wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* trim - the span without blanks at either end */
static struct span
trim(struct span sp)
{
    while (sp.n > 0 && is_wsp(sp.s[0])) {
        sp.s++;
        sp.n--;
    }
    while (sp.n > 0 && is_wsp(sp.s[sp.n - 1]))
        sp.n--;
    return sp;
}

/* span_is - does the span equal lit, ignoring ASCII case? */
static bool
span_is(struct span sp, const char *lit)
{
    return strlen(lit) == sp.n && strncasecmp(sp.s, lit, sp.n) == 0;
}

/* quoted - a printable copy of a span, cut at 40 bytes, for an error message (caller frees) */
static char *
quoted(struct span sp)
{
    enum { MAX = 40 };
    size_t n = sp.n > MAX ? MAX : sp.n;
    char *out = sg_xmalloc(n + 6);
    char *o = out;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)sp.s[i];
        *o++ = c >= 0x20 && c < 0x7f && c != '"' ? (char)c : '?';
    }
    if (sp.n > MAX) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* split_tag - "name = value" into trimmed name and value; false without '=' */
static bool
split_tag(struct span term, struct span *name_r, struct span *value_r)
{
    const char *eq = memchr(term.s, '=', term.n);
    if (eq == NULL)
        return false;
    *name_r = trim((struct span){term.s, (size_t)(eq - term.s)});
    *value_r = trim((struct span){eq + 1, term.n - (size_t)(eq - term.s) - 1});
    return name_r->n > 0;
}

/* tag_of - which known tag a name is */
static enum tag
tag_of(struct span name)
{
    for (size_t i = 0; i < SG_NELEM(tag_names); i++)
        if (span_is(name, tag_names[i]))
            return (enum tag)i;
    return TAG_UNKNOWN;
}

/* parse_disp - none, quarantine or reject, any case */
static bool
parse_disp(struct span value, enum sg_dmarc_disp *disp_r)
{
    for (size_t i = 0; i < SG_NELEM(disp_names); i++)
        if (span_is(value, disp_names[i])) {
            *disp_r = (enum sg_dmarc_disp)i;
            return true;
        }
    return false;
}

/* parse_mode - 'r' or 's' (any case) into *mode; anything else keeps the default */
static void
parse_mode(struct span value, char *mode)
{
    if (span_is(value, "r"))
        *mode = 'r';
    else if (span_is(value, "s"))
        *mode = 's';
}

/* parse_pct - 1 to 3 digits, at most 100, into *pct; anything else keeps the default */
static void
parse_pct(struct span value, unsigned *pct)
{
    if (value.n == 0 || value.n > 3)
        return;
    unsigned v = 0;
    for (size_t i = 0; i < value.n; i++) {
        if (value.s[i] < '0' || value.s[i] > '9')
            return;
        v = v * 10 + (unsigned)(value.s[i] - '0');
    }
    if (v <= 100)
        *pct = v;
}

/* next_term - the term at *pos up to ';' or end, and move *pos past it */
static struct span
next_term(const char **pos, const char *end)
{
    const char *start = *pos;
    const char *semi = memchr(start, ';', (size_t)(end - start));
    const char *stop = semi ? semi : end;
    *pos = semi ? semi + 1 : end;
    return trim((struct span){start, (size_t)(stop - start)});
}

/* version_ok - is the term exactly v=DMARC1 (any case, blanks around '=')? */
static bool
version_ok(struct span term)
{
    struct span name, value;
    return split_tag(term, &name, &value) && span_is(name, "v") && span_is(value, "DMARC1");
}

/* apply_tag - one known tag's value into *r; SG_PERM for an invalid p or sp */
static enum sg_rc
apply_tag(enum tag tag, struct span value, struct sg_dmarc_record *r, char **error_r)
{
    char *q;
    switch (tag) {
    case TAG_P:
        if (!parse_disp(value, &r->p)) {
            q = quoted(value);
            set_error(error_r, "no valid p= tag: %s is not none, quarantine or reject", q);
            free(q);
            return SG_PERM;
        }
        break;
    case TAG_SP:
        if (!parse_disp(value, &r->sp)) {
            q = quoted(value);
            set_error(error_r, "invalid sp= tag: %s is not none, quarantine or reject", q);
            free(q);
            return SG_PERM;
        }
        r->sp_set = true;
        break;
    case TAG_ADKIM:
        parse_mode(value, &r->adkim);
        break;
    case TAG_ASPF:
        parse_mode(value, &r->aspf);
        break;
    case TAG_PCT:
        parse_pct(value, &r->pct);
        break;
    default: /* v (only as a repeat, caught before), rua, ruf, fo, rf, ri */
        break;
    }
    return SG_OK;
}

/* sg_dmarc_parse - parse one DMARC TXT record */
enum sg_rc
sg_dmarc_parse(const char *txt, struct sg_dmarc_record *r, char **error_r)
{
    *r = (struct sg_dmarc_record){.adkim = 'r', .aspf = 'r', .pct = 100};
    if (txt == NULL) {
        set_error(error_r, "no record");
        return SG_PERM;
    }
    size_t len = strnlen(txt, SG_DMARC_RECORD_MAX + 1);
    if (len > SG_DMARC_RECORD_MAX) {
        set_error(error_r, "record longer than %d bytes", SG_DMARC_RECORD_MAX);
        return SG_PERM;
    }
    const char *pos = txt, *end = txt + len;
    if (!version_ok(next_term(&pos, end))) {
        set_error(error_r, "not a DMARC record: it must start with \"v=DMARC1;\"");
        return SG_PERM;
    }
    unsigned seen = 1u << TAG_V;
    while (pos < end) {
        struct span name, value;
        if (!split_tag(next_term(&pos, end), &name, &value))
            continue; /* empty (";;", a trailing ';') or not tag=value: ignored */
        enum tag tag = tag_of(name);
        if (tag == TAG_UNKNOWN)
            continue;
        if (seen & (1u << tag)) {
            set_error(error_r, "tag %s= appears twice", tag_names[tag]);
            return SG_PERM;
        }
        seen |= 1u << tag;
        if (apply_tag(tag, value, r, error_r) != SG_OK)
            return SG_PERM;
    }
    if (!(seen & (1u << TAG_P))) {
        set_error(error_r, "no valid p= tag (none, quarantine or reject)");
        return SG_PERM;
    }
    if (!r->sp_set)
        r->sp = r->p;
    return SG_OK;
}

/* sg_dmarc_is_record - v=DMARC1 first, lenient on case and blanks */
bool
sg_dmarc_is_record(const char *txt)
{
    if (txt == NULL)
        return false;
    const char *s = txt;
    while (is_wsp(*s))
        s++;
    if (*s != 'v' && *s != 'V')
        return false;
    s++;
    while (is_wsp(*s))
        s++;
    if (*s != '=')
        return false;
    s++;
    while (is_wsp(*s))
        s++;
    return strncasecmp(s, "DMARC1", 6) == 0;
}

/* normalise_domain - lower case, one trailing dot dropped, checked to be a
 * name _dmarc. can be put in front of; false with *error_r if not */
static bool
normalise_domain(const char *in, char out[SG_DMARC_NAME_MAX], char **error_r)
{
    /* _dmarc. (7) + name must fit a domain name's 253 characters */
    enum { MAX = 253 - 7 };
    size_t n = in ? strnlen(in, MAX + 2) : 0;
    if (n > 0 && in[n - 1] == '.' && n <= MAX + 1)
        n--;
    if (n == 0) {
        set_error(error_r, "no From domain");
        return false;
    }
    if (n > MAX) {
        set_error(error_r, "From domain longer than %d characters", MAX);
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c == 0x7f) {
            set_error(error_r, "From domain has a blank or control character");
            return false;
        }
        if (c == '.' ? label == 0 : ++label > 63) {
            set_error(error_r, "From domain has an empty label or one over 63 characters");
            return false;
        }
        if (c == '.')
            label = 0;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    if (label == 0) {
        set_error(error_r, "From domain has an empty label or one over 63 characters");
        return false;
    }
    out[n] = '\0';
    return true;
}

/* lookup_at - the DMARC records at _dmarc.<domain> into *out (lookup,
 * domain, nfound, record or detail); SG_TEMP with *error_r when DNS failed */
static enum sg_rc
lookup_at(struct sg_spf *dns, const char *domain, struct sg_dmarc_policy *out, char **error_r)
{
    char name[SG_DMARC_NAME_MAX + 8];
    char **txts = NULL;
    size_t n = 0;
    char *dns_error = NULL;

    snprintf(name, sizeof(name), "_dmarc.%s", domain);
    sg_strlcpy(out->domain, domain, sizeof(out->domain));
    out->nfound = 0;
    out->detail[0] = '\0';
    if (sg_spf_txt(dns, name, &txts, &n, &dns_error) != SG_OK) {
        out->lookup = SG_DMARC_LOOKUP_TEMPERROR;
        set_error(error_r, "DMARC: %s", dns_error ? dns_error : "DNS error");
        sg_strlcpy(out->detail, dns_error ? dns_error : "DNS error", sizeof(out->detail));
        free(dns_error);
        sg_strv_free(txts);
        return SG_TEMP;
    }
    const char *record = NULL;
    for (size_t i = 0; i < n; i++)
        if (sg_dmarc_is_record(txts[i])) {
            record = txts[i];
            out->nfound++;
        }
    if (out->nfound == 0)
        out->lookup = SG_DMARC_LOOKUP_NONE;
    else if (out->nfound > 1)
        out->lookup = SG_DMARC_LOOKUP_MULTIPLE;
    else {
        char *parse_error = NULL;
        if (sg_dmarc_parse(record, &out->record, &parse_error) == SG_OK) {
            out->lookup = SG_DMARC_LOOKUP_FOUND;
        } else {
            out->lookup = SG_DMARC_LOOKUP_INVALID;
            sg_strlcpy(out->detail, parse_error, sizeof(out->detail));
        }
        free(parse_error);
    }
    sg_strv_free(txts);
    return SG_OK;
}

/* one_line - make a detail printable ASCII on one line, in place */
static void
one_line(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = (unsigned char)*s >= 0x80 ? '?' : ' ';
}

/* sg_dmarc_discover - the From domain's record, else the organisational domain's */
enum sg_rc
sg_dmarc_discover(struct sg_spf *dns, const char *from_domain, struct sg_dmarc_policy *out,
                  char **error_r)
{
    char from[SG_DMARC_NAME_MAX];
    *out = (struct sg_dmarc_policy){.lookup = SG_DMARC_LOOKUP_NONE};
    if (!normalise_domain(from_domain, from, error_r))
        return SG_PERM;
    enum sg_rc rc = lookup_at(dns, from, out, error_r);
    if (rc == SG_OK && out->lookup == SG_DMARC_LOOKUP_NONE) {
        char *org = sg_psl_org_domain(from);
        if (strcmp(org, from) != 0) {
            out->from_org = true;
            rc = lookup_at(dns, org, out, error_r);
        }
        free(org);
    }
    one_line(out->detail);
    return rc;
}

/* name_len - length of a domain without one trailing dot; 0 when empty,
 * NULL or longer than a domain name */
static size_t
name_len(const char *d)
{
    size_t n = d ? strnlen(d, SG_DMARC_NAME_MAX) : 0;
    if (n == SG_DMARC_NAME_MAX)
        return 0;
    if (n > 0 && d[n - 1] == '.')
        n--;
    return n;
}

/* sg_dmarc_aligned - strict: the same name; relaxed: the same organisational domain */
bool
sg_dmarc_aligned(const char *a, const char *b, char mode)
{
    size_t na = name_len(a), nb = name_len(b);
    if (na == 0 || nb == 0)
        return false;
    if (na == nb && strncasecmp(a, b, na) == 0)
        return true;
    if (mode == 's' || mode == 'S')
        return false;
    char *ca = sg_xstrndup(a, na), *cb = sg_xstrndup(b, nb);
    char *oa = sg_psl_org_domain(ca), *ob = sg_psl_org_domain(cb);
    bool same = strcmp(oa, ob) == 0;
    free(ca);
    free(cb);
    free(oa);
    free(ob);
    return same;
}

/* copy_name - a domain into a prediction field: lower case, no trailing dot, "" for NULL */
static void
copy_name(char dst[SG_DMARC_NAME_MAX], const char *src)
{
    sg_strlcpy(dst, src ? src : "", SG_DMARC_NAME_MAX);
    size_t n = strlen(dst);
    if (n > 0 && dst[n - 1] == '.')
        dst[n - 1] = '\0';
    sg_str_lower(dst);
}

/* lower_disp - the policy for the failing mail outside pct (RFC 7489 §6.6.4) */
static enum sg_dmarc_disp
lower_disp(enum sg_dmarc_disp d)
{
    return d == SG_DMARC_DISP_NONE ? SG_DMARC_DISP_NONE : (enum sg_dmarc_disp)(d - 1);
}

/* sg_dmarc_predict - alignment, result and the policy that applies */
void
sg_dmarc_predict(const struct sg_dmarc_policy *policy, const char *from_domain,
                 enum sg_spf_result spf, const char *spf_domain, const char *dkim_domain,
                 struct sg_dmarc_prediction *out)
{
    *out = (struct sg_dmarc_prediction){
        .lookup = SG_DMARC_LOOKUP_NONE, .pct = 100, .aspf = 'r', .adkim = 'r', .spf = spf};
    if (policy != NULL) {
        out->lookup = policy->lookup;
        out->nfound = policy->nfound;
        copy_name(out->record_domain, policy->domain);
        sg_strlcpy(out->detail, policy->detail, sizeof(out->detail));
        one_line(out->detail);
    }
    bool found = out->lookup == SG_DMARC_LOOKUP_FOUND;
    if (found) {
        const struct sg_dmarc_record *r = &policy->record;
        out->aspf = r->aspf == 's' ? 's' : 'r';
        out->adkim = r->adkim == 's' ? 's' : 'r';
        out->subdomain_policy = policy->from_org;
        out->sp_set = r->sp_set;
        out->policy = policy->from_org ? r->sp : r->p;
        if ((unsigned)out->policy > SG_DMARC_DISP_REJECT) /* a record not made by sg_dmarc_parse */
            out->policy = SG_DMARC_DISP_REJECT;
        out->pct = r->pct > 100 ? 100 : r->pct;
        out->policy_rest = out->pct < 100 ? lower_disp(out->policy) : out->policy;
    }
    copy_name(out->from_domain, from_domain);
    copy_name(out->spf_domain, spf_domain);
    copy_name(out->dkim_domain, dkim_domain);
    out->spf_aligned = spf == SG_SPF_PASS && sg_dmarc_aligned(spf_domain, from_domain, out->aspf);
    out->dkim_aligned = sg_dmarc_aligned(dkim_domain, from_domain, out->adkim);

    if (out->lookup == SG_DMARC_LOOKUP_TEMPERROR)
        out->result = SG_DMARC_RESULT_TEMPERROR;
    else if (!found)
        out->result = SG_DMARC_RESULT_NONE;
    else if (out->spf_aligned || out->dkim_aligned)
        out->result = SG_DMARC_RESULT_PASS;
    else
        out->result = SG_DMARC_RESULT_FAIL;
}

/* A growing line of text. */
struct line {
    char *s;
    size_t len, cap;
};

/* add - append printf output to the line */
static void add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
add(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (l->len + (size_t)n + 1 > l->cap) {
        l->cap = (l->len + (size_t)n + 1) * 2;
        l->s = sg_xrealloc(l->s, l->cap);
    }
    va_start(ap, fmt);
    vsnprintf(l->s + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    l->len += (size_t)n;
}

/* add_lead - what the domain publishes, or why there is no policy */
static void
add_lead(struct line *l, const struct sg_dmarc_prediction *p)
{
    const char *at = p->record_domain[0] ? p->record_domain : p->from_domain;
    switch (p->lookup) {
    case SG_DMARC_LOOKUP_FOUND:
        add(l, "%s publishes DMARC %s=%s", at, p->subdomain_policy && p->sp_set ? "sp" : "p",
            disp_names[p->policy]);
        if (p->pct < 100)
            add(l, " pct=%u", p->pct);
        if (p->subdomain_policy)
            add(l, p->sp_set ? " for its subdomain %s" : ", which also covers its subdomain %s",
                p->from_domain);
        break;
    case SG_DMARC_LOOKUP_INVALID:
        add(l, "%s publishes an invalid DMARC record (%s)", at, p->detail);
        break;
    case SG_DMARC_LOOKUP_MULTIPLE:
        add(l, "%s publishes %u DMARC records where one is allowed", at, p->nfound);
        break;
    case SG_DMARC_LOOKUP_TEMPERROR:
        add(l, "the DMARC lookup for %s failed (%s)", at, p->detail[0] ? p->detail : "DNS error");
        break;
    case SG_DMARC_LOOKUP_NONE:
        if (p->record_domain[0] && strcmp(p->record_domain, p->from_domain) != 0)
            add(l, "neither %s nor %s publishes a DMARC record", p->from_domain, at);
        else
            add(l, "%s publishes no DMARC record", at);
        break;
    }
}

/* add_spf - the SPF half: result, domain, address, alignment */
static void
add_spf(struct line *l, const struct sg_dmarc_prediction *p, const char *ip)
{
    if (p->spf_domain[0] == '\0') {
        add(l, "no SPF domain");
        return;
    }
    add(l, "SPF %s for %s", sg_spf_result_name(p->spf), p->spf_domain);
    if (ip != NULL && *ip != '\0')
        add(l, " from %s", ip);
    if (p->spf_aligned)
        add(l, ", aligned");
    else if (p->spf == SG_SPF_PASS)
        add(l, " but not %saligned with %s", p->aspf == 's' ? "strictly " : "", p->from_domain);
}

/* add_dkim - the DKIM half: the d= and its alignment */
static void
add_dkim(struct line *l, const struct sg_dmarc_prediction *p)
{
    if (p->dkim_domain[0] == '\0')
        add(l, "no aligned DKIM signature");
    else if (p->dkim_aligned)
        add(l, "DKIM signature d=%s, aligned", p->dkim_domain);
    else
        add(l, "DKIM signature d=%s not %saligned with %s", p->dkim_domain,
            p->adkim == 's' ? "strictly " : "", p->from_domain);
}

/* add_outcome - what the receiver will do with the message */
static void
add_outcome(struct line *l, const struct sg_dmarc_prediction *p)
{
    /* indexed by enum sg_dmarc_disp: all failing mail, pct % of it, the rest */
    static const char *const all[] = {"deliver it normally", "quarantine it (junk folder)",
                                      "reject it"};
    static const char *const some[] = {"deliver", "quarantine", "reject"};
    static const char *const rest[] = {"deliver the rest normally", "quarantine the rest",
                                       "reject the rest"};
    switch (p->result) {
    case SG_DMARC_RESULT_PASS:
        add(l, "DMARC will pass");
        return;
    case SG_DMARC_RESULT_NONE:
        add(l, "the receiver applies no DMARC policy");
        return;
    case SG_DMARC_RESULT_TEMPERROR:
        add(l, "the receiver cannot evaluate DMARC now and may defer it");
        return;
    case SG_DMARC_RESULT_FAIL:
        break;
    }
    if (p->policy == SG_DMARC_DISP_NONE)
        add(l, "DMARC will fail, but with policy none the receiver will deliver it");
    else if (p->pct >= 100)
        add(l, "the receiver will %s", all[p->policy]);
    else if (p->pct == 0)
        add(l, "the receiver will %s (pct=0)", all[p->policy_rest]);
    else
        add(l, "the receiver will %s %u%% of such mail and %s", some[p->policy], p->pct,
            rest[p->policy_rest]);
}

/* sg_dmarc_explain - one line: policy; SPF and DKIM: outcome */
char *
sg_dmarc_explain(const struct sg_dmarc_prediction *pred, const char *ip)
{
    struct line l = {0};
    char addr[64];
    sg_strlcpy(addr, ip ? ip : "", sizeof(addr));
    one_line(addr);
    add_lead(&l, pred);
    add(&l, "; ");
    add_spf(&l, pred, addr);
    add(&l, " and ");
    add_dkim(&l, pred);
    add(&l, ": ");
    add_outcome(&l, pred);
    one_line(l.s); /* the domains are the caller's bytes */
    return l.s;
}

/* sg_dmarc_disp_name - the tag value */
const char *
sg_dmarc_disp_name(enum sg_dmarc_disp disp)
{
    return (unsigned)disp < SG_NELEM(disp_names) ? disp_names[disp] : "unknown";
}

/* sg_dmarc_result_name - as receivers write it in Authentication-Results */
const char *
sg_dmarc_result_name(enum sg_dmarc_result result)
{
    switch (result) {
    case SG_DMARC_RESULT_NONE:
        return "none";
    case SG_DMARC_RESULT_PASS:
        return "pass";
    case SG_DMARC_RESULT_FAIL:
        return "fail";
    case SG_DMARC_RESULT_TEMPERROR:
        return "temperror";
    }
    return "unknown";
}

/* sg_dmarc_lookup_name - how discovery ended */
const char *
sg_dmarc_lookup_name(enum sg_dmarc_lookup lookup)
{
    switch (lookup) {
    case SG_DMARC_LOOKUP_NONE:
        return "none";
    case SG_DMARC_LOOKUP_FOUND:
        return "found";
    case SG_DMARC_LOOKUP_INVALID:
        return "invalid";
    case SG_DMARC_LOOKUP_MULTIPLE:
        return "multiple";
    case SG_DMARC_LOOKUP_TEMPERROR:
        return "temperror";
    }
    return "unknown";
}
