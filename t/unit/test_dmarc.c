/*
 * test_dmarc.c - DMARC prediction: records parse with every tag, their
 * defaults, blanks, any case, pct bounds, and are refused without a valid
 * p=, with an invalid sp=, a known tag twice, garbage first or over 2 KiB
 * (read in exact-size buffers, so ASan sees any overread); discovery finds
 * the record at the From domain, else at the organisational domain
 * (mail.example.co.uk -> example.co.uk, a.b.example.nl -> example.nl),
 * ignores TXT that is not DMARC, gives no policy for several records or an
 * invalid one (without falling back), none when nothing is published, and a
 * temperror when DNS fails; alignment is strict or relaxed, any case, a
 * trailing dot ignored, and never across a public suffix (example.co.uk vs
 * other.co.uk); the prediction for every SPF result x SPF domain x DKIM d= x
 * aspf x adkim, the policy that applies (p for the domain itself, sp for a
 * subdomain under the organisational record, sp defaulting to p), pct and
 * its next-lower policy; and the one-line explanation, ASCII always.
 */
#include "dmarc.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* exact - a heap copy of s with no byte to spare (caller frees) */
static char *
exact(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = sg_xmalloc(n);
    memcpy(c, s, n);
    return c;
}

/* A record and what it parses to.  error: NULL for SG_OK, else a substring of the message. */
struct parse_case {
    const char *txt;
    const char *error;
    enum sg_dmarc_disp p, sp;
    bool sp_set;
    char adkim, aspf;
    unsigned pct;
};

#define OK(txt, p, sp, sp_set, adkim, aspf, pct)                                                   \
    {                                                                                              \
        txt, NULL, SG_DMARC_DISP_##p, SG_DMARC_DISP_##sp, sp_set, adkim, aspf, pct                 \
    }
#define BAD(txt, error)                                                                            \
    {                                                                                              \
        txt, error, SG_DMARC_DISP_NONE, SG_DMARC_DISP_NONE, false, 0, 0, 0                         \
    }

static const struct parse_case parse_cases[] = {
    /* defaults */
    OK("v=DMARC1; p=none", NONE, NONE, false, 'r', 'r', 100),
    OK("v=DMARC1;p=reject", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=quarantine", QUARANTINE, QUARANTINE, false, 'r', 'r', 100),
    /* every tag */
    OK("v=DMARC1; p=quarantine; sp=reject; adkim=s; aspf=s; pct=20; "
       "rua=mailto:d@example.nl,mailto:x@example.com!10m; ruf=mailto:f@example.nl; fo=0:1:d:s; "
       "rf=afrf; ri=86400",
       QUARANTINE, REJECT, true, 's', 's', 20),
    OK("v=DMARC1; p=reject; sp=none", REJECT, NONE, true, 'r', 'r', 100),
    OK("v=DMARC1; p=none; adkim=r; aspf=s", NONE, NONE, false, 'r', 's', 100),
    OK("v=DMARC1; p=none; adkim=s", NONE, NONE, false, 's', 'r', 100),
    /* blanks around tags, values and '=' */
    OK("  v = DMARC1 ;\tp = reject ; sp= none ;  ", REJECT, NONE, true, 'r', 'r', 100),
    OK("v=DMARC1;\r\n p=reject;\r\n pct=7", REJECT, REJECT, false, 'r', 'r', 7),
    /* any case */
    OK("V=dmarc1; P=REJECT; SP=Quarantine; ADKIM=S; Aspf=S; PCT=5", REJECT, QUARANTINE, true, 's',
       's', 5),
    /* empty terms and trailing semicolons */
    OK("v=DMARC1; p=reject;;;", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1;; ;p=none;", NONE, NONE, false, 'r', 'r', 100),
    /* p= anywhere after v= */
    OK("v=DMARC1; rua=mailto:a@example.nl; p=quarantine", QUARANTINE, QUARANTINE, false, 'r', 'r',
       100),
    /* pct: 0..100, 1 to 3 digits; anything else is the default 100 */
    OK("v=DMARC1; p=reject; pct=0", REJECT, REJECT, false, 'r', 'r', 0),
    OK("v=DMARC1; p=reject; pct=100", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; pct=050", REJECT, REJECT, false, 'r', 'r', 50),
    OK("v=DMARC1; p=reject; pct=101", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; pct=-1", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; pct=abc", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; pct=", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; pct=5.5", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; pct=0050", REJECT, REJECT, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; pct=99999999999999999999", REJECT, REJECT, false, 'r', 'r', 100),
    /* invalid adkim/aspf: the default (RFC 7489 §6.3) */
    OK("v=DMARC1; p=none; adkim=x; aspf=relaxed", NONE, NONE, false, 'r', 'r', 100),
    /* unknown tags and terms that are no tag=value are ignored, repeated or not */
    OK("v=DMARC1; np=reject; psd=y; p=none; t=y; x=1; x=2", NONE, NONE, false, 'r', 'r', 100),
    OK("v=DMARC1; p=reject; !!garbage!!; =novalue; justaword", REJECT, REJECT, false, 'r', 'r',
       100),
    /* missing or invalid p: invalid (also with a rua=, see dmarc.h) */
    BAD("v=DMARC1", "no valid p= tag"),
    BAD("v=DMARC1;", "no valid p= tag"),
    BAD("v=DMARC1; rua=mailto:d@example.nl", "no valid p= tag"),
    BAD("v=DMARC1; sp=reject", "no valid p= tag"),
    BAD("v=DMARC1; p=rejcet", "no valid p= tag: \"rejcet\" is not none"),
    BAD("v=DMARC1; p=", "no valid p= tag"),
    BAD("v=DMARC1; p=re ject", "no valid p= tag"),
    BAD("v=DMARC1; p=\x01\xff", "no valid p= tag: \"??\""),
    BAD("v=DMARC1; p=none; sp=maybe", "invalid sp= tag: \"maybe\""),
    /* a known tag twice: invalid (RFC 6376 §3.2) */
    BAD("v=DMARC1; p=reject; p=none", "tag p= appears twice"),
    BAD("v=DMARC1; p=reject; P=reject", "tag p= appears twice"),
    BAD("v=DMARC1; p=none; pct=50; pct=100", "tag pct= appears twice"),
    BAD("v=DMARC1; v=DMARC1; p=none", "tag v= appears twice"),
    BAD("v=DMARC1; p=none; rua=mailto:a@b.nl; rua=mailto:c@d.nl", "tag rua= appears twice"),
    /* not DMARC at all */
    BAD("", "not a DMARC record"),
    BAD("   ", "not a DMARC record"),
    BAD("garbage", "not a DMARC record"),
    BAD("v=spf1 -all", "not a DMARC record"),
    BAD("p=reject; v=DMARC1", "not a DMARC record"),
    BAD("v=DMARC2; p=reject", "not a DMARC record"),
    BAD("v=DMARC10; p=reject", "not a DMARC record"),
    BAD("v=DMARC1 p=reject", "not a DMARC record"),
    BAD("DMARC1; p=reject", "not a DMARC record"),
    BAD(";v=DMARC1; p=reject", "not a DMARC record"),
    BAD("v;p=reject", "not a DMARC record"),
};

/* test_parse - the table above, each record in an exact-size buffer */
static void
test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(parse_cases); i++) {
        const struct parse_case *c = &parse_cases[i];
        char *txt = exact(c->txt);
        struct sg_dmarc_record r;
        char *error = NULL;
        enum sg_rc rc = sg_dmarc_parse(txt, &r, &error);
        if (c->error == NULL) {
            if (rc != SG_OK)
                fail_msg("\"%s\": %s", c->txt, error);
            assert_null(error);
            if (r.p != c->p || r.sp != c->sp || r.sp_set != c->sp_set || r.adkim != c->adkim ||
                r.aspf != c->aspf || r.pct != c->pct)
                fail_msg("\"%s\": p=%d sp=%d sp_set=%d adkim=%c aspf=%c pct=%u", c->txt, r.p, r.sp,
                         r.sp_set, r.adkim, r.aspf, r.pct);
        } else {
            if (rc != SG_PERM)
                fail_msg("\"%s\": accepted", c->txt);
            assert_non_null(error);
            if (strstr(error, c->error) == NULL)
                fail_msg("\"%s\": error \"%s\", not \"%s\"", c->txt, error, c->error);
            free(error);
        }
        /* The same without an error string: same outcome, nothing to free. */
        assert_int_equal(sg_dmarc_parse(txt, &r, NULL), rc);
        free(txt);
    }
}

/* test_parse_bounds - 2048 bytes parse, 2049 and 1 MB are refused; NULL is SG_PERM */
static void
test_parse_bounds(void **state)
{
    (void)state;
    struct sg_dmarc_record r;
    char *error = NULL;
    static const size_t sizes[] = {SG_DMARC_RECORD_MAX, SG_DMARC_RECORD_MAX + 1, 1024 * 1024};
    for (size_t k = 0; k < SG_NELEM(sizes); k++) {
        /* "v=DMARC1; p=reject; x=aaaa...", exactly sizes[k] bytes */
        char *txt = sg_xmalloc(sizes[k] + 1);
        const char *head = "v=DMARC1; p=reject; x=";
        memset(txt, 'a', sizes[k]);
        memcpy(txt, head, strlen(head));
        txt[sizes[k]] = '\0';
        enum sg_rc rc = sg_dmarc_parse(txt, &r, &error);
        if (sizes[k] <= SG_DMARC_RECORD_MAX) {
            assert_int_equal(rc, SG_OK);
            assert_int_equal(r.p, SG_DMARC_DISP_REJECT);
        } else {
            assert_int_equal(rc, SG_PERM);
            assert_string_equal(error, "record longer than 2048 bytes");
            free(error);
            error = NULL;
        }
        free(txt);
    }
    assert_int_equal(sg_dmarc_parse(NULL, &r, &error), SG_PERM);
    assert_string_equal(error, "no record");
    free(error);
}

/* test_is_record - what counts as a DMARC record in discovery */
static void
test_is_record(void **state)
{
    (void)state;
    assert_true(sg_dmarc_is_record("v=DMARC1; p=none"));
    assert_true(sg_dmarc_is_record(" V = dmarc1;"));
    assert_true(sg_dmarc_is_record("v=DMARC1"));
    assert_true(sg_dmarc_is_record("v=DMARC1 p=reject")); /* claims to be; invalid */
    assert_false(sg_dmarc_is_record("v=spf1 -all"));
    assert_false(sg_dmarc_is_record("google-site-verification=abc"));
    assert_false(sg_dmarc_is_record("xv=DMARC1; p=none"));
    assert_false(sg_dmarc_is_record("v=DMARC"));
    assert_false(sg_dmarc_is_record(""));
    assert_false(sg_dmarc_is_record(NULL));
}

static const char *const zone[] = {
    "_dmarc.example.nl TXT v=DMARC1; p=reject",
    "_dmarc.own.example.nl TXT v=DMARC1; p=none",
    "_dmarc.example.co.uk TXT v=DMARC1; p=reject; sp=quarantine; adkim=s",
    "_dmarc.nosp.nl TXT v=DMARC1; p=quarantine",
    "_dmarc.other.nl TXT google-site-verification=abc",
    "_dmarc.other.nl TXT v=spf1 -all",
    "_dmarc.other.nl TXT v=DMARC1; p=quarantine; pct=30",
    "_dmarc.nondmarc.nl TXT hello",
    "_dmarc.sub.fallback.nl TXT some text",
    "_dmarc.fallback.nl TXT v=DMARC1; p=reject",
    "_dmarc.multi.nl TXT v=DMARC1; p=reject",
    "_dmarc.multi.nl TXT v=DMARC1; p=none",
    "_dmarc.invalid.nl TXT v=DMARC1; p=bogus",
    "_dmarc.sub.invalidsub.nl TXT v=DMARC1; rua=mailto:d@invalidsub.nl",
    "_dmarc.invalidsub.nl TXT v=DMARC1; p=reject",
    "_dmarc.temp.nl TEMPFAIL",
    "_dmarc.orgtemp.nl TEMPFAIL",
    "_dmarc.nx.nl NXDOMAIN",
};

/* setup - the zone */
static int
setup(void **state)
{
    *state = tu_zone(zone, SG_NELEM(zone));
    return 0;
}

/* teardown - the zone */
static int
teardown(void **state)
{
    struct sg_spf *dns = *state;
    sg_spf_free(&dns);
    return 0;
}

/* A From domain and what discovery finds.  p is meaningful for FOUND. */
struct discover_case {
    const char *from;
    enum sg_rc rc;
    enum sg_dmarc_lookup lookup;
    const char *domain;
    bool from_org;
    enum sg_dmarc_disp p, sp;
    unsigned nfound;
    const char *detail; /* substring, or NULL for "" */
};

#define D(from, rc, lookup, domain, from_org, p, sp, n, detail)                                    \
    {                                                                                              \
        from, SG_##rc, SG_DMARC_LOOKUP_##lookup, domain, from_org, SG_DMARC_DISP_##p,              \
            SG_DMARC_DISP_##sp, n, detail                                                          \
    }

static const struct discover_case discover_cases[] = {
    /* at the domain itself, any case, a trailing dot */
    D("example.nl", OK, FOUND, "example.nl", false, REJECT, REJECT, 1, NULL),
    D("Example.NL.", OK, FOUND, "example.nl", false, REJECT, REJECT, 1, NULL),
    /* a subdomain with its own record: that one, not the organisation's */
    D("own.example.nl", OK, FOUND, "own.example.nl", false, NONE, NONE, 1, NULL),
    /* organisational domain fallback */
    D("a.b.example.nl", OK, FOUND, "example.nl", true, REJECT, REJECT, 1, NULL),
    D("mail.example.co.uk", OK, FOUND, "example.co.uk", true, REJECT, QUARANTINE, 1, NULL),
    D("example.co.uk", OK, FOUND, "example.co.uk", false, REJECT, QUARANTINE, 1, NULL),
    /* other TXT at _dmarc is ignored, at the domain and before falling back */
    D("other.nl", OK, FOUND, "other.nl", false, QUARANTINE, QUARANTINE, 1, NULL),
    D("sub.fallback.nl", OK, FOUND, "fallback.nl", true, REJECT, REJECT, 1, NULL),
    D("nondmarc.nl", OK, NONE, "nondmarc.nl", false, NONE, NONE, 0, NULL),
    /* nothing anywhere; NXDOMAIN is "nothing" too */
    D("nothing.nl", OK, NONE, "nothing.nl", false, NONE, NONE, 0, NULL),
    D("mail.nothing.co.uk", OK, NONE, "nothing.co.uk", true, NONE, NONE, 0, NULL),
    D("nx.nl", OK, NONE, "nx.nl", false, NONE, NONE, 0, NULL),
    D("co.uk", OK, NONE, "co.uk", false, NONE, NONE, 0, NULL),
    /* several records: no policy, at the domain or after falling back */
    D("multi.nl", OK, MULTIPLE, "multi.nl", false, NONE, NONE, 2, NULL),
    D("sub.multi.nl", OK, MULTIPLE, "multi.nl", true, NONE, NONE, 2, NULL),
    /* an invalid record: no policy, and no fallback past it */
    D("invalid.nl", OK, INVALID, "invalid.nl", false, NONE, NONE, 1, "no valid p= tag"),
    D("x.invalid.nl", OK, INVALID, "invalid.nl", true, NONE, NONE, 1, "no valid p= tag"),
    D("sub.invalidsub.nl", OK, INVALID, "sub.invalidsub.nl", false, NONE, NONE, 1,
      "no valid p= tag"),
    /* DNS failure, at the domain or at the organisational domain */
    D("temp.nl", TEMP, TEMPERROR, "temp.nl", false, NONE, NONE, 0, "temporary failure"),
    D("mail.orgtemp.nl", TEMP, TEMPERROR, "orgtemp.nl", true, NONE, NONE, 0, "temporary failure"),
    /* no domain name */
    D("", PERM, NONE, "", false, NONE, NONE, 0, NULL),
    D(".", PERM, NONE, "", false, NONE, NONE, 0, NULL),
    D("a..example.nl", PERM, NONE, "", false, NONE, NONE, 0, NULL),
    D("example.nl..", PERM, NONE, "", false, NONE, NONE, 0, NULL),
    D(".example.nl", PERM, NONE, "", false, NONE, NONE, 0, NULL),
    D("exa mple.nl", PERM, NONE, "", false, NONE, NONE, 0, NULL),
    D(NULL, PERM, NONE, "", false, NONE, NONE, 0, NULL),
};

/* test_discover - the table above */
static void
test_discover(void **state)
{
    struct sg_spf *dns = *state;
    for (size_t i = 0; i < SG_NELEM(discover_cases); i++) {
        const struct discover_case *c = &discover_cases[i];
        struct sg_dmarc_policy pol;
        char *error = NULL;
        enum sg_rc rc = sg_dmarc_discover(dns, c->from, &pol, &error);
        const char *from = c->from ? c->from : "(null)";
        if (rc != c->rc)
            fail_msg("%s: %s (%s)", from, sg_rc_str(rc), error ? error : "");
        assert_true((error != NULL) == (rc != SG_OK));
        free(error);
        if (pol.lookup != c->lookup || strcmp(pol.domain, c->domain) != 0 ||
            pol.from_org != c->from_org || pol.nfound != c->nfound)
            fail_msg("%s: %s at \"%s\" from_org=%d nfound=%u", from,
                     sg_dmarc_lookup_name(pol.lookup), pol.domain, pol.from_org, pol.nfound);
        if (c->lookup == SG_DMARC_LOOKUP_FOUND && (pol.record.p != c->p || pol.record.sp != c->sp))
            fail_msg("%s: p=%d sp=%d", from, pol.record.p, pol.record.sp);
        if (c->detail == NULL)
            assert_string_equal(pol.detail, "");
        else if (strstr(pol.detail, c->detail) == NULL)
            fail_msg("%s: detail \"%s\"", from, pol.detail);
    }
}

/* test_discover_long - the longest From domain that fits _dmarc. is looked up; one more is refused
 */
static void
test_discover_long(void **state)
{
    struct sg_spf *dns = *state;
    char name[300];
    struct sg_dmarc_policy pol;
    char *error = NULL;
    /* 4 labels of 60 + 3 dots = 243, + ".nl" = 246 */
    memset(name, 'a', sizeof(name));
    for (int i = 1; i <= 3; i++)
        name[i * 61 - 1] = '.';
    strcpy(name + 243, ".nl");
    assert_int_equal(strlen(name), 246);
    assert_int_equal(sg_dmarc_discover(dns, name, &pol, &error), SG_OK);
    assert_int_equal(pol.lookup, SG_DMARC_LOOKUP_NONE);
    name[0] = 'b';
    memmove(name + 1, name, 247);
    assert_int_equal(sg_dmarc_discover(dns, name, &pol, &error), SG_PERM);
    assert_non_null(strstr(error, "longer than 246"));
    free(error);
    error = NULL;
    /* a label of 64 */
    memset(name, 'a', 64);
    strcpy(name + 64, ".nl");
    assert_int_equal(sg_dmarc_discover(dns, name, &pol, &error), SG_PERM);
    assert_non_null(strstr(error, "63"));
    free(error);
}

/* Two domains, a mode and whether they align. */
struct align_case {
    const char *a, *b;
    char mode;
    bool aligned;
};

static const struct align_case align_cases[] = {
    {"example.nl", "example.nl", 's', true},
    {"Example.NL", "example.nl.", 's', true},
    {"example.nl.", "EXAMPLE.nl", 'r', true},
    {"mail.example.nl", "example.nl", 's', false},
    {"mail.example.nl", "example.nl", 'r', true},
    {"a.b.example.nl", "c.example.nl", 'r', true},
    {"a.b.example.nl", "c.example.nl", 's', false},
    {"Mail.Example.Co.UK.", "example.co.uk", 'r', true},
    {"mail.example.co.uk", "example.co.uk", 's', false},
    {"example.co.uk", "other.co.uk", 'r', false}, /* co.uk is a public suffix */
    {"co.uk", "example.co.uk", 'r', false},
    {"example.nl", "example.com", 'r', false},
    {"example.nl", "notexample.nl", 'r', false},
    {"mail.example.nl", "example.nl", 'R', true},
    {"mail.example.nl", "example.nl", 'S', false},
    {"mail.example.nl", "example.nl", 'x', true}, /* unknown mode: relaxed */
    {"example.nl", "example.nl..", 's', false},
    {"", "", 's', false},
    {"", "example.nl", 'r', false},
    {".", ".", 'r', false},
    {NULL, "example.nl", 'r', false},
    {"example.nl", NULL, 's', false},
};

/* test_aligned - the table above, both ways round */
static void
test_aligned(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(align_cases); i++) {
        const struct align_case *c = &align_cases[i];
        if (sg_dmarc_aligned(c->a, c->b, c->mode) != c->aligned ||
            sg_dmarc_aligned(c->b, c->a, c->mode) != c->aligned)
            fail_msg("%s ~ %s (%c): expected %s", c->a ? c->a : "(null)", c->b ? c->b : "(null)",
                     c->mode, c->aligned ? "aligned" : "not aligned");
    }
    /* longer than any domain name: not aligned, even with itself */
    char long_name[400];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_false(sg_dmarc_aligned(long_name, long_name, 's'));
}

/* found - a policy as discovery gives it for a record */
static struct sg_dmarc_policy
found(const char *domain, bool from_org, const char *txt)
{
    struct sg_dmarc_policy pol = {
        .lookup = SG_DMARC_LOOKUP_FOUND, .from_org = from_org, .nfound = 1};
    char *error = NULL;
    if (sg_dmarc_parse(txt, &pol.record, &error) != SG_OK)
        fail_msg("%s: %s", txt, error);
    sg_strlcpy(pol.domain, domain, sizeof(pol.domain));
    return pol;
}

/* assert_ascii_line - printable ASCII, no newline */
static void
assert_ascii_line(const char *s)
{
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            fail_msg("not one ASCII line: \"%s\"", s);
}

/* test_predict_matrix - every SPF result x SPF domain x d= x aspf x adkim.
 * Each domain has a level against From example.nl: 2 the same name, 1 the
 * same organisation, 0 neither; it aligns when 2, or 1 in relaxed mode. */
static void
test_predict_matrix(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int level;
    } spf_domains[] = {{"example.nl", 2}, {"bounce.example.nl", 1}, {"other.com", 0}, {NULL, 0}},
      dkim_domains[] = {{"EXAMPLE.NL", 2}, {"mail.example.nl", 1}, {"example.co.uk", 0}, {NULL, 0}};
    static const enum sg_spf_result spfs[] = {SG_SPF_NONE,     SG_SPF_NEUTRAL,  SG_SPF_PASS,
                                              SG_SPF_FAIL,     SG_SPF_SOFTFAIL, SG_SPF_TEMPERROR,
                                              SG_SPF_PERMERROR};
    static const char *const modes = "rs";
    size_t n = 0, passes = 0;
    for (size_t s = 0; s < SG_NELEM(spfs); s++)
        for (size_t sd = 0; sd < SG_NELEM(spf_domains); sd++)
            for (size_t dd = 0; dd < SG_NELEM(dkim_domains); dd++)
                for (int am = 0; am < 2; am++)
                    for (int dm = 0; dm < 2; dm++) {
                        char txt[80];
                        snprintf(txt, sizeof(txt), "v=DMARC1; p=reject; aspf=%c; adkim=%c",
                                 modes[am], modes[dm]);
                        struct sg_dmarc_policy pol = found("example.nl", false, txt);
                        struct sg_dmarc_prediction pr;
                        sg_dmarc_predict(&pol, "example.nl", spfs[s], spf_domains[sd].name,
                                         dkim_domains[dd].name, &pr);
                        int sl = spf_domains[sd].level, dl = dkim_domains[dd].level;
                        bool spf_al = spfs[s] == SG_SPF_PASS && (sl == 2 || (sl == 1 && am == 0));
                        bool dkim_al = dl == 2 || (dl == 1 && dm == 0);
                        bool pass = spf_al || dkim_al;
                        if (pr.spf_aligned != spf_al || pr.dkim_aligned != dkim_al ||
                            pr.result != (pass ? SG_DMARC_RESULT_PASS : SG_DMARC_RESULT_FAIL))
                            fail_msg("%s: spf=%s for %s, d=%s: spf_aligned=%d dkim_aligned=%d "
                                     "result=%s",
                                     txt, sg_spf_result_name(spfs[s]),
                                     spf_domains[sd].name ? spf_domains[sd].name : "-",
                                     dkim_domains[dd].name ? dkim_domains[dd].name : "-",
                                     pr.spf_aligned, pr.dkim_aligned,
                                     sg_dmarc_result_name(pr.result));
                        assert_int_equal(pr.policy, SG_DMARC_DISP_REJECT);
                        assert_int_equal(pr.aspf, modes[am]);
                        assert_int_equal(pr.adkim, modes[dm]);
                        char *line = sg_dmarc_explain(&pr, "2001:db8::25");
                        assert_ascii_line(line);
                        assert_non_null(strstr(line, pass ? ": DMARC will pass"
                                                          : ": the receiver will reject it"));
                        free(line);
                        n++;
                        passes += pass;
                    }
    assert_int_equal(n, 7 * 4 * 4 * 2 * 2);
    assert_true(passes > 0 && passes < n);
}

/* test_predict_no_record - none, invalid, several and temperror decide the result whatever aligns
 */
static void
test_predict_no_record(void **state)
{
    (void)state;
    struct sg_dmarc_prediction pr;
    sg_dmarc_predict(NULL, "example.nl", SG_SPF_PASS, "example.nl", "example.nl", &pr);
    assert_int_equal(pr.result, SG_DMARC_RESULT_NONE);
    assert_int_equal(pr.lookup, SG_DMARC_LOOKUP_NONE);
    assert_true(pr.spf_aligned); /* alignment is still told, in relaxed mode */
    assert_true(pr.dkim_aligned);
    assert_int_equal(pr.policy, SG_DMARC_DISP_NONE);
    assert_int_equal(pr.pct, 100);

    static const enum sg_dmarc_lookup lookups[] = {SG_DMARC_LOOKUP_NONE, SG_DMARC_LOOKUP_INVALID,
                                                   SG_DMARC_LOOKUP_MULTIPLE,
                                                   SG_DMARC_LOOKUP_TEMPERROR};
    static const enum sg_dmarc_result results[] = {SG_DMARC_RESULT_NONE, SG_DMARC_RESULT_NONE,
                                                   SG_DMARC_RESULT_NONE, SG_DMARC_RESULT_TEMPERROR};
    for (size_t i = 0; i < SG_NELEM(lookups); i++) {
        /* the record field holds a p=reject a FOUND lookup would use: ignored */
        struct sg_dmarc_policy pol = found("example.nl", false, "v=DMARC1; p=reject");
        pol.lookup = lookups[i];
        sg_dmarc_predict(&pol, "example.nl", SG_SPF_FAIL, "example.nl", NULL, &pr);
        assert_int_equal(pr.result, results[i]);
        assert_int_equal(pr.policy, SG_DMARC_DISP_NONE);
        sg_dmarc_predict(&pol, "example.nl", SG_SPF_PASS, "example.nl", "example.nl", &pr);
        assert_int_equal(pr.result, results[i]);
    }
    /* NULL From: nothing aligns */
    struct sg_dmarc_policy pol = found("example.nl", false, "v=DMARC1; p=quarantine");
    sg_dmarc_predict(&pol, NULL, SG_SPF_PASS, "example.nl", "example.nl", &pr);
    assert_int_equal(pr.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(pr.policy, SG_DMARC_DISP_QUARANTINE);
}

/* test_policy_selection - p for the domain itself, sp for a subdomain under
 * the organisation's record, sp defaulting to p; end to end from the zone */
static void
test_policy_selection(void **state)
{
    struct sg_spf *dns = *state;
    static const struct {
        const char *from;
        enum sg_dmarc_disp policy;
        bool subdomain;
    } cases[] = {
        {"example.co.uk", SG_DMARC_DISP_REJECT, false},         /* p */
        {"mail.example.co.uk", SG_DMARC_DISP_QUARANTINE, true}, /* sp */
        {"nosp.nl", SG_DMARC_DISP_QUARANTINE, false},           /* p */
        {"a.b.nosp.nl", SG_DMARC_DISP_QUARANTINE, true},        /* sp = p */
        {"a.b.example.nl", SG_DMARC_DISP_REJECT, true},         /* sp = p */
        {"own.example.nl", SG_DMARC_DISP_NONE, false},          /* its own p */
    };
    for (size_t i = 0; i < SG_NELEM(cases); i++) {
        struct sg_dmarc_policy pol;
        struct sg_dmarc_prediction pr;
        char *error = NULL;
        assert_int_equal(sg_dmarc_discover(dns, cases[i].from, &pol, &error), SG_OK);
        sg_dmarc_predict(&pol, cases[i].from, SG_SPF_FAIL, cases[i].from, NULL, &pr);
        assert_int_equal(pr.result, SG_DMARC_RESULT_FAIL);
        if (pr.policy != cases[i].policy || pr.subdomain_policy != cases[i].subdomain)
            fail_msg("%s: policy %s subdomain %d", cases[i].from, sg_dmarc_disp_name(pr.policy),
                     pr.subdomain_policy);
    }
    /* adkim=s from the organisation's record applies to the subdomain */
    struct sg_dmarc_policy pol;
    struct sg_dmarc_prediction pr;
    char *error = NULL;
    assert_int_equal(sg_dmarc_discover(dns, "mail.example.co.uk", &pol, &error), SG_OK);
    sg_dmarc_predict(&pol, "mail.example.co.uk", SG_SPF_FAIL, NULL, "example.co.uk", &pr);
    assert_false(pr.dkim_aligned);
    assert_int_equal(pr.result, SG_DMARC_RESULT_FAIL);
    sg_dmarc_predict(&pol, "mail.example.co.uk", SG_SPF_FAIL, NULL, "Mail.Example.co.uk.", &pr);
    assert_true(pr.dkim_aligned);
    assert_int_equal(pr.result, SG_DMARC_RESULT_PASS);
}

/* A record, whether the From is a subdomain under it, and what failing mail meets. */
struct pct_case {
    const char *txt;
    bool from_org;
    enum sg_dmarc_disp policy;
    unsigned pct;
    enum sg_dmarc_disp rest;
    const char *outcome;
};

static const struct pct_case pct_cases[] = {
    {"v=DMARC1; p=reject", false, SG_DMARC_DISP_REJECT, 100, SG_DMARC_DISP_REJECT,
     ": the receiver will reject it"},
    {"v=DMARC1; p=reject; pct=50", false, SG_DMARC_DISP_REJECT, 50, SG_DMARC_DISP_QUARANTINE,
     ": the receiver will reject 50% of such mail and quarantine the rest"},
    {"v=DMARC1; p=quarantine; pct=25", false, SG_DMARC_DISP_QUARANTINE, 25, SG_DMARC_DISP_NONE,
     ": the receiver will quarantine 25% of such mail and deliver the rest normally"},
    {"v=DMARC1; p=quarantine", false, SG_DMARC_DISP_QUARANTINE, 100, SG_DMARC_DISP_QUARANTINE,
     ": the receiver will quarantine it (junk folder)"},
    {"v=DMARC1; p=reject; pct=0", false, SG_DMARC_DISP_REJECT, 0, SG_DMARC_DISP_QUARANTINE,
     ": the receiver will quarantine it (junk folder) (pct=0)"},
    {"v=DMARC1; p=none; pct=10", false, SG_DMARC_DISP_NONE, 10, SG_DMARC_DISP_NONE,
     ": DMARC will fail, but with policy none the receiver will deliver it"},
    {"v=DMARC1; p=none; sp=reject; pct=99", true, SG_DMARC_DISP_REJECT, 99,
     SG_DMARC_DISP_QUARANTINE,
     ": the receiver will reject 99% of such mail and quarantine the rest"},
};

/* test_pct - pct < 100: the policy for pct % of failing mail, the next lower for the rest */
static void
test_pct(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(pct_cases); i++) {
        const struct pct_case *c = &pct_cases[i];
        struct sg_dmarc_policy pol = found("example.nl", c->from_org, c->txt);
        const char *from = c->from_org ? "mail.example.nl" : "example.nl";
        struct sg_dmarc_prediction pr;
        sg_dmarc_predict(&pol, from, SG_SPF_SOFTFAIL, "example.com", NULL, &pr);
        assert_int_equal(pr.result, SG_DMARC_RESULT_FAIL);
        assert_int_equal(pr.policy, c->policy);
        assert_int_equal(pr.pct, c->pct);
        assert_int_equal(pr.policy_rest, c->rest);
        char *line = sg_dmarc_explain(&pr, NULL);
        if (strstr(line, c->outcome) == NULL)
            fail_msg("%s: \"%s\"", c->txt, line);
        if (c->pct < 100) {
            char want[16];
            snprintf(want, sizeof(want), " pct=%u", c->pct);
            assert_non_null(strstr(line, want));
        }
        free(line);
    }
}

/* explain_for - the line for a policy and inputs (caller frees) */
static char *
explain_for(const struct sg_dmarc_policy *pol, const char *from, enum sg_spf_result spf,
            const char *spf_domain, const char *dkim, const char *ip)
{
    struct sg_dmarc_prediction pr;
    sg_dmarc_predict(pol, from, spf, spf_domain, dkim, &pr);
    return sg_dmarc_explain(&pr, ip);
}

/* expect_line - the line is exactly want; frees it */
static void
expect_line(char *line, const char *want)
{
    if (strcmp(line, want) != 0)
        fail_msg("\n got: %s\nwant: %s", line, want);
    free(line);
}

/* test_explain - whole lines for the usual situations */
static void
test_explain(void **state)
{
    (void)state;
    struct sg_dmarc_policy pol = found("mijnbakkerij.nl", false, "v=DMARC1; p=reject");
    expect_line(
        explain_for(&pol, "mijnbakkerij.nl", SG_SPF_FAIL, "mijnbakkerij.nl", NULL, "203.0.113.25"),
        "mijnbakkerij.nl publishes DMARC p=reject; SPF fail for mijnbakkerij.nl from "
        "203.0.113.25 and no aligned DKIM signature: the receiver will reject it");
    expect_line(explain_for(&pol, "mijnbakkerij.nl", SG_SPF_PASS, "bounce.mijnbakkerij.nl",
                            "mijnbakkerij.nl", "203.0.113.25"),
                "mijnbakkerij.nl publishes DMARC p=reject; SPF pass for bounce.mijnbakkerij.nl "
                "from 203.0.113.25, aligned and DKIM signature d=mijnbakkerij.nl, aligned: DMARC "
                "will pass");
    expect_line(explain_for(&pol, "mijnbakkerij.nl", SG_SPF_PASS, "esp.example.com",
                            "esp.example.com", NULL),
                "mijnbakkerij.nl publishes DMARC p=reject; SPF pass for esp.example.com but not "
                "aligned with mijnbakkerij.nl and DKIM signature d=esp.example.com not aligned "
                "with mijnbakkerij.nl: the receiver will reject it");

    pol = found("example.nl", false, "v=DMARC1; p=quarantine; aspf=s; adkim=s");
    expect_line(
        explain_for(&pol, "example.nl", SG_SPF_PASS, "bounce.example.nl", "mail.example.nl", NULL),
        "example.nl publishes DMARC p=quarantine; SPF pass for bounce.example.nl but not "
        "strictly aligned with example.nl and DKIM signature d=mail.example.nl not "
        "strictly aligned with example.nl: the receiver will quarantine it (junk folder)");

    pol = found("example.co.uk", true, "v=DMARC1; p=reject; sp=quarantine");
    expect_line(explain_for(&pol, "Mail.Example.co.uk", SG_SPF_NONE, NULL, NULL, NULL),
                "example.co.uk publishes DMARC sp=quarantine for its subdomain "
                "mail.example.co.uk; no SPF domain and no aligned DKIM signature: the receiver "
                "will quarantine it (junk folder)");
    pol = found("example.nl", true, "v=DMARC1; p=reject");
    expect_line(
        explain_for(&pol, "a.b.example.nl", SG_SPF_SOFTFAIL, "a.b.example.nl", NULL, "192.0.2.1"),
        "example.nl publishes DMARC p=reject, which also covers its subdomain "
        "a.b.example.nl; SPF softfail for a.b.example.nl from 192.0.2.1 and no aligned "
        "DKIM signature: the receiver will reject it");

    pol = (struct sg_dmarc_policy){.lookup = SG_DMARC_LOOKUP_NONE, .from_org = true};
    sg_strlcpy(pol.domain, "example.nl", sizeof(pol.domain));
    expect_line(explain_for(&pol, "mail.example.nl", SG_SPF_PASS, "mail.example.nl", NULL, NULL),
                "neither mail.example.nl nor example.nl publishes a DMARC record; SPF pass for "
                "mail.example.nl, aligned and no aligned DKIM signature: the receiver applies no "
                "DMARC policy");
    expect_line(explain_for(NULL, "example.nl", SG_SPF_FAIL, "example.nl", NULL, NULL),
                "example.nl publishes no DMARC record; SPF fail for example.nl and no aligned "
                "DKIM signature: the receiver applies no DMARC policy");

    pol = (struct sg_dmarc_policy){.lookup = SG_DMARC_LOOKUP_INVALID, .nfound = 1};
    sg_strlcpy(pol.domain, "example.nl", sizeof(pol.domain));
    sg_strlcpy(pol.detail, "no valid p= tag (none, quarantine or reject)", sizeof(pol.detail));
    expect_line(explain_for(&pol, "example.nl", SG_SPF_FAIL, "example.nl", NULL, NULL),
                "example.nl publishes an invalid DMARC record (no valid p= tag (none, quarantine "
                "or reject)); SPF fail for example.nl and no aligned DKIM signature: the receiver "
                "applies no DMARC policy");

    pol = (struct sg_dmarc_policy){.lookup = SG_DMARC_LOOKUP_MULTIPLE, .nfound = 2};
    sg_strlcpy(pol.domain, "example.nl", sizeof(pol.domain));
    expect_line(explain_for(&pol, "example.nl", SG_SPF_PASS, "example.nl", "example.nl", NULL),
                "example.nl publishes 2 DMARC records where one is allowed; SPF pass for "
                "example.nl, aligned and DKIM signature d=example.nl, aligned: the receiver "
                "applies no DMARC policy");

    pol = (struct sg_dmarc_policy){.lookup = SG_DMARC_LOOKUP_TEMPERROR};
    sg_strlcpy(pol.domain, "example.nl", sizeof(pol.domain));
    sg_strlcpy(pol.detail, "DNS lookup of _dmarc.example.nl TXT: temporary failure",
               sizeof(pol.detail));
    expect_line(explain_for(&pol, "example.nl", SG_SPF_PASS, "example.nl", "example.nl", NULL),
                "the DMARC lookup for example.nl failed (DNS lookup of _dmarc.example.nl TXT: "
                "temporary failure); SPF pass for example.nl, aligned and DKIM signature "
                "d=example.nl, aligned: the receiver cannot evaluate DMARC now and may defer it");
}

/* test_explain_ascii - bytes outside printable ASCII in the inputs become '?' */
static void
test_explain_ascii(void **state)
{
    (void)state;
    struct sg_dmarc_policy pol = found("ex\xc3\xa4mple.nl", false, "v=DMARC1; p=reject");
    char *line = explain_for(&pol, "ex\xc3\xa4mple.nl", SG_SPF_FAIL, "bad\r\nname.nl", "d\x01.nl",
                             "203.0.113.25\n");
    assert_ascii_line(line);
    assert_non_null(strstr(line, "ex??mple.nl publishes DMARC p=reject"));
    assert_non_null(strstr(line, "from 203.0.113.25 "));
    free(line);
}

/* test_names - the words for logs */
static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(sg_dmarc_disp_name(SG_DMARC_DISP_NONE), "none");
    assert_string_equal(sg_dmarc_disp_name(SG_DMARC_DISP_QUARANTINE), "quarantine");
    assert_string_equal(sg_dmarc_disp_name(SG_DMARC_DISP_REJECT), "reject");
    assert_string_equal(sg_dmarc_result_name(SG_DMARC_RESULT_NONE), "none");
    assert_string_equal(sg_dmarc_result_name(SG_DMARC_RESULT_PASS), "pass");
    assert_string_equal(sg_dmarc_result_name(SG_DMARC_RESULT_FAIL), "fail");
    assert_string_equal(sg_dmarc_result_name(SG_DMARC_RESULT_TEMPERROR), "temperror");
    assert_string_equal(sg_dmarc_lookup_name(SG_DMARC_LOOKUP_FOUND), "found");
    assert_string_equal(sg_dmarc_lookup_name(SG_DMARC_LOOKUP_MULTIPLE), "multiple");
    assert_string_equal(sg_dmarc_lookup_name(SG_DMARC_LOOKUP_INVALID), "invalid");
    assert_string_equal(sg_dmarc_lookup_name(SG_DMARC_LOOKUP_TEMPERROR), "temperror");
    assert_string_equal(sg_dmarc_lookup_name(SG_DMARC_LOOKUP_NONE), "none");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_bounds),
        cmocka_unit_test(test_is_record),
        cmocka_unit_test_setup_teardown(test_discover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_long, setup, teardown),
        cmocka_unit_test(test_aligned),
        cmocka_unit_test(test_predict_matrix),
        cmocka_unit_test(test_predict_no_record),
        cmocka_unit_test_setup_teardown(test_policy_selection, setup, teardown),
        cmocka_unit_test(test_pct),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_explain_ascii),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
