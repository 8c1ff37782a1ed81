/*
 * test_spf.c - the SPF result a receiver will compute, for every result
 * kind (pass, fail, softfail, neutral, none, permerror for a syntax error or
 * an unknown mechanism, temperror), for
 * IPv4 and IPv6, through include: and a:, for the null sender (the HELO
 * name is checked), and the TXT lookups DMARC uses; all on libspf2's
 * in-memory zone (the module's contract: DNS answers in, SPF results out).
 *
 * test_limits: RFC 7208 4.6.4's limits, which libspf2 1.2.10 alone gets
 * wrong (see spf.c): 10 DNS-querying terms over nested include: and
 * redirect=, counted in evaluation order; 2 void lookups; 10 MX hosts; the
 * PTR names after the 10th ignored.  Every row's expected result agrees with
 * pyspf 2.0.14 (python3-spf, strict mode as receivers run it) on the same
 * zone through a fake spf.DNSLookup, checked by hand (not part of ctest);
 * the rows marked "libspf2 alone" are the ones where libspf2 without
 * sendguard's counting layer disagrees.
 */
#include "spf.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const zone[] = {
    "pass.test TXT v=spf1 ip4:203.0.113.25 ip6:2001:db8::25 -all",
    "soft.test TXT v=spf1 ip4:192.0.2.1 ~all",
    "neutral.test TXT v=spf1 ?all",
    "include.test TXT v=spf1 include:_spf.provider.test -all",
    "_spf.provider.test TXT v=spf1 ip4:198.51.100.0/24 -all",
    "a.test TXT v=spf1 a:mail.a.test -all",
    "mail.a.test A 203.0.113.80",
    "nospf.test TXT google-site-verification=abc",
    "syntax.test TXT v=spf1 ip4:203.0.113.300 -all",
    "unknown-mech.test TXT v=spf1 frobnicate:x -all",
    "broken-dns.test TEMPFAIL",
    "helo.relay.test TXT v=spf1 ip4:203.0.113.25 -all",
    "_dmarc.pass.test TXT v=DMARC1; p=reject",
    "_dmarc.pass.test TXT some other text",
    "_dmarc.temp.test TEMPFAIL",
};

/* The limits' zone.  h.ten.test never matches; the ten.test records hold 10
 * DNS-querying terms over four nested records:
 * ten: include:l1 (1); l1: a (2), mx (3; its host's address is part of it),
 * include:l2 (4); l2: exists (5, a void lookup), a (6), include:l3 (7);
 * l3: a a a (8-10). */
static const char *const limits_zone[] = {
    "ten.test TXT v=spf1 include:l1.ten.test ip4:203.0.113.25 -all",
    "l1.ten.test TXT v=spf1 a:h.ten.test mx:m.ten.test include:l2.ten.test ?all",
    "l2.ten.test TXT v=spf1 exists:nx.ten.test a:h.ten.test include:l3.ten.test ?all",
    "l3.ten.test TXT v=spf1 a:h.ten.test a:h.ten.test a:h.ten.test ?all",
    "h.ten.test A 192.0.2.10",
    "m.ten.test MX 10 h.ten.test",
    "eleven.test TXT v=spf1 a:h.ten.test include:l1.ten.test ip4:203.0.113.25 -all",
    "early.test TXT v=spf1 include:l1.ten.test ip4:203.0.113.25 include:late.early.test -all",
    "late.early.test TXT v=spf1 ?all",
    /* redirect=: include:l2 (1), its 6 terms (2-7), redirect (8), then 2
     * or 3 more. */
    "redirect10.test TXT v=spf1 include:l2.ten.test redirect=r10.redirect.test",
    "r10.redirect.test TXT v=spf1 a:h.ten.test a:h.ten.test ip4:203.0.113.25 -all",
    "redirect11.test TXT v=spf1 include:l2.ten.test redirect=r11.redirect.test",
    "r11.redirect.test TXT v=spf1 a:h.ten.test a:h.ten.test a:h.ten.test ip4:203.0.113.25 -all",
    "toomany.test TXT v=spf1 include:i1.test include:i2.test include:i3.test include:i4.test "
    "include:i5.test include:i6.test include:i7.test include:i8.test include:i9.test "
    "include:i10.test include:i11.test -all",
    "i1.test TXT v=spf1 ?all",
    "i2.test TXT v=spf1 ?all",
    "i3.test TXT v=spf1 ?all",
    "i4.test TXT v=spf1 ?all",
    "i5.test TXT v=spf1 ?all",
    "i6.test TXT v=spf1 ?all",
    "i7.test TXT v=spf1 ?all",
    "i8.test TXT v=spf1 ?all",
    "i9.test TXT v=spf1 ?all",
    "i10.test TXT v=spf1 ?all",
    "i11.test TXT v=spf1 ip4:203.0.113.25 -all",
    /* Lookups that are no terms: an exp= text (at 10 terms), and the PTR
     * and address lookups of the %{p} macro (exists:%{p}... is the 10th). */
    "exp.test TXT v=spf1 include:l1.ten.test -all exp=why.exp.test",
    "why.exp.test TXT %{i} is not one of our servers",
    "pmacro.test TXT v=spf1 include:l3.ten.test a:h.ten.test a:h.ten.test a:h.ten.test "
    "a:h.ten.test a:h.ten.test exists:%{p}.ok.test -all",
    "99.2.0.192.in-addr.arpa PTR host99.ok.test",
    "host99.ok.test A 192.0.2.99",
    "host99.ok.test.ok.test A 127.0.0.2",
    /* Void lookups: NXDOMAIN, or an MX host without addresses. */
    "void2.test TXT v=spf1 a:v1.void.test a:v2.void.test ip4:203.0.113.25 -all",
    "void.test TXT v=spf1 a:v1.void.test a:v2.void.test a:v3.void.test ip4:203.0.113.25 -all",
    "v1.void.test NXDOMAIN",
    "v2.void.test NXDOMAIN",
    "v3.void.test NXDOMAIN",
    "voidmx.test TXT v=spf1 mx:nohosts.test ip4:203.0.113.25 -all",
    "nohosts.test MX 10 x1.nohosts.test",
    "nohosts.test MX 20 x2.nohosts.test",
    "nohosts.test MX 30 x3.nohosts.test",
    /* include: or redirect= of a domain without an SPF record. */
    "include-none.test TXT v=spf1 include:nospf.test ip4:203.0.113.25 -all",
    "include-nx.test TXT v=spf1 include:nothing.test ip4:203.0.113.25 -all",
    "redirect-none.test TXT v=spf1 redirect=nospf.test",
    "nospf.test TXT google-site-verification=abc",
    /* mx of 10 and of 11 hosts (h1..h11.hosts.test at 192.0.2.1..11). */
    "mx10.test TXT v=spf1 mx:hosts10.test -all",
    "mx11.test TXT v=spf1 mx:hosts11.test -all",
    "hosts10.test MX 1 h1.hosts.test",
    "hosts10.test MX 2 h2.hosts.test",
    "hosts10.test MX 3 h3.hosts.test",
    "hosts10.test MX 4 h4.hosts.test",
    "hosts10.test MX 5 h5.hosts.test",
    "hosts10.test MX 6 h6.hosts.test",
    "hosts10.test MX 7 h7.hosts.test",
    "hosts10.test MX 8 h8.hosts.test",
    "hosts10.test MX 9 h9.hosts.test",
    "hosts10.test MX 10 h10.hosts.test",
    "hosts11.test MX 1 h1.hosts.test",
    "hosts11.test MX 2 h2.hosts.test",
    "hosts11.test MX 3 h3.hosts.test",
    "hosts11.test MX 4 h4.hosts.test",
    "hosts11.test MX 5 h5.hosts.test",
    "hosts11.test MX 6 h6.hosts.test",
    "hosts11.test MX 7 h7.hosts.test",
    "hosts11.test MX 8 h8.hosts.test",
    "hosts11.test MX 9 h9.hosts.test",
    "hosts11.test MX 10 h10.hosts.test",
    "hosts11.test MX 11 h11.hosts.test",
    "h1.hosts.test A 192.0.2.1",
    "h2.hosts.test A 192.0.2.2",
    "h3.hosts.test A 192.0.2.3",
    "h4.hosts.test A 192.0.2.4",
    "h5.hosts.test A 192.0.2.5",
    "h6.hosts.test A 192.0.2.6",
    "h7.hosts.test A 192.0.2.7",
    "h8.hosts.test A 192.0.2.8",
    "h9.hosts.test A 192.0.2.9",
    "h10.hosts.test A 192.0.2.10",
    "h11.hosts.test A 192.0.2.11",
    /* ptr: 192.0.2.77 has 11 names, only the 11th in ptr.test; 192.0.2.78
     * the same with its ptr.test name first.  Every name resolves back. */
    "ptr.test TXT v=spf1 ptr:ptr.test -all",
    "77.2.0.192.in-addr.arpa PTR n1.other.test",
    "77.2.0.192.in-addr.arpa PTR n2.other.test",
    "77.2.0.192.in-addr.arpa PTR n3.other.test",
    "77.2.0.192.in-addr.arpa PTR n4.other.test",
    "77.2.0.192.in-addr.arpa PTR n5.other.test",
    "77.2.0.192.in-addr.arpa PTR n6.other.test",
    "77.2.0.192.in-addr.arpa PTR n7.other.test",
    "77.2.0.192.in-addr.arpa PTR n8.other.test",
    "77.2.0.192.in-addr.arpa PTR n9.other.test",
    "77.2.0.192.in-addr.arpa PTR n10.other.test",
    "77.2.0.192.in-addr.arpa PTR mail77.ptr.test",
    "78.2.0.192.in-addr.arpa PTR mail78.ptr.test",
    "78.2.0.192.in-addr.arpa PTR n1.other.test",
    "78.2.0.192.in-addr.arpa PTR n2.other.test",
    "78.2.0.192.in-addr.arpa PTR n3.other.test",
    "78.2.0.192.in-addr.arpa PTR n4.other.test",
    "78.2.0.192.in-addr.arpa PTR n5.other.test",
    "78.2.0.192.in-addr.arpa PTR n6.other.test",
    "78.2.0.192.in-addr.arpa PTR n7.other.test",
    "78.2.0.192.in-addr.arpa PTR n8.other.test",
    "78.2.0.192.in-addr.arpa PTR n9.other.test",
    "78.2.0.192.in-addr.arpa PTR n10.other.test",
    "n1.other.test A 192.0.2.77",
    "n2.other.test A 192.0.2.77",
    "n3.other.test A 192.0.2.77",
    "n4.other.test A 192.0.2.77",
    "n5.other.test A 192.0.2.77",
    "n6.other.test A 192.0.2.77",
    "n7.other.test A 192.0.2.77",
    "n8.other.test A 192.0.2.77",
    "n9.other.test A 192.0.2.77",
    "n10.other.test A 192.0.2.77",
    "mail77.ptr.test A 192.0.2.77",
    "mail78.ptr.test A 192.0.2.78",
};

/* The limits' rows: why, when set, must be in the explanation. */
static const struct {
    const char *ip, *from;
    enum sg_spf_result want;
    const char *why;
} limit_rows[] = {
    /* 10 terms over nested include:, then ip4: matches. */
    {"203.0.113.25", "factuur@ten.test", SG_SPF_PASS, NULL},
    {"203.0.113.26", "factuur@ten.test", SG_SPF_FAIL, NULL},
    /* 11: the last a: in l3 is one too many (libspf2 alone: pass). */
    {"203.0.113.25", "factuur@eleven.test", SG_SPF_PERMERROR, "more than 10 DNS lookups"},
    /* The 11th term comes after the match: not evaluated, not counted;
     * without the match it is (libspf2 alone: fail). */
    {"203.0.113.25", "factuur@early.test", SG_SPF_PASS, NULL},
    {"203.0.113.26", "factuur@early.test", SG_SPF_PERMERROR, "looks up late.early.test"},
    /* redirect= counts, and the terms behind it (libspf2 alone: pass). */
    {"203.0.113.25", "factuur@redirect10.test", SG_SPF_PASS, NULL},
    {"203.0.113.25", "factuur@redirect11.test", SG_SPF_PERMERROR, "more than 10 DNS lookups"},
    /* Not terms: the exp= text of a fail, the lookups of %{p}. */
    {"203.0.113.26", "factuur@exp.test", SG_SPF_FAIL, NULL},
    {"192.0.2.99", "factuur@pmacro.test", SG_SPF_PASS, NULL},
    /* 11 includes, the last one matching (libspf2 alone: pass). */
    {"203.0.113.25", "factuur@toomany.test", SG_SPF_PERMERROR, "looks up i11.test"},
    /* Void lookups: 2 are allowed, the 3rd is a permerror (libspf2 alone:
     * pass, or fail for IPv6), also for MX hosts without addresses. */
    {"203.0.113.25", "factuur@void2.test", SG_SPF_PASS, NULL},
    {"203.0.113.25", "factuur@void.test", SG_SPF_PERMERROR, "more than 2 void DNS lookups"},
    {"2001:db8::25", "factuur@void.test", SG_SPF_PERMERROR, "looks up v3.void.test"},
    {"203.0.113.25", "factuur@voidmx.test", SG_SPF_PERMERROR, "more than 2 void DNS lookups"},
    /* No SPF record behind include: or redirect= (libspf2 does this). */
    {"203.0.113.25", "factuur@include-none.test", SG_SPF_PERMERROR, NULL},
    {"203.0.113.25", "factuur@include-nx.test", SG_SPF_PERMERROR, NULL},
    {"203.0.113.25", "factuur@redirect-none.test", SG_SPF_PERMERROR, NULL},
    /* mx: 10 hosts are looked up; 11 are a permerror even when the first
     * matches (libspf2 alone: pass). */
    {"192.0.2.10", "factuur@mx10.test", SG_SPF_PASS, NULL},
    {"192.0.2.11", "factuur@mx10.test", SG_SPF_FAIL, NULL},
    {"192.0.2.1", "factuur@mx11.test", SG_SPF_PERMERROR,
     "more than 10 MX hosts for mx:hosts11.test"},
    /* ptr: names after the 10th are ignored (libspf2 alone: permerror). */
    {"192.0.2.77", "factuur@ptr.test", SG_SPF_FAIL, NULL},
    {"192.0.2.78", "factuur@ptr.test", SG_SPF_PASS, NULL},
};

/* setup - the zone */
static int
setup(void **state)
{
    *state = tu_zone(zone, SG_NELEM(zone));
    return 0;
}

/* limits_setup - the limits' zone */
static int
limits_setup(void **state)
{
    *state = tu_zone(limits_zone, SG_NELEM(limits_zone));
    return 0;
}

/* teardown - the zone, whichever */
static int
teardown(void **state)
{
    struct sg_spf *spf = *state;
    sg_spf_free(&spf);
    assert_null(spf);
    return 0;
}

/* test_results - one row per result kind and way to get it */
static void
test_results(void **state)
{
    struct sg_spf *spf = *state;
    static const struct {
        const char *ip, *from, *helo;
        enum sg_spf_result want;
    } rows[] = {
        {"203.0.113.25", "factuur@pass.test", "mx.pass.test", SG_SPF_PASS},
        {"2001:db8::25", "factuur@pass.test", "mx.pass.test", SG_SPF_PASS},
        {"203.0.113.26", "factuur@pass.test", "mx.pass.test", SG_SPF_FAIL},
        {"2001:db8::26", "factuur@pass.test", "mx.pass.test", SG_SPF_FAIL},
        {"203.0.113.26", "factuur@soft.test", "mx.soft.test", SG_SPF_SOFTFAIL},
        {"203.0.113.26", "factuur@neutral.test", "mx", SG_SPF_NEUTRAL},
        {"198.51.100.7", "factuur@include.test", "mx", SG_SPF_PASS},
        {"203.0.113.25", "factuur@include.test", "mx", SG_SPF_FAIL},
        {"203.0.113.80", "factuur@a.test", "mx", SG_SPF_PASS},
        {"203.0.113.81", "factuur@a.test", "mx", SG_SPF_FAIL},
        {"203.0.113.25", "factuur@nospf.test", "mx", SG_SPF_NONE},
        {"203.0.113.25", "factuur@nonexistent.test", "mx", SG_SPF_NONE},
        {"203.0.113.25", "factuur@syntax.test", "mx", SG_SPF_PERMERROR},
        {"203.0.113.25", "factuur@unknown-mech.test", "mx", SG_SPF_PERMERROR},
        {"203.0.113.25", "factuur@broken-dns.test", "mx", SG_SPF_TEMPERROR},
        /* The null sender: postmaster@HELO is checked. */
        {"203.0.113.25", "", "helo.relay.test", SG_SPF_PASS},
        {"203.0.113.26", "", "helo.relay.test", SG_SPF_FAIL},
        /* Not an IP address, or no domain: permerror, never a crash. */
        {"not-an-ip", "factuur@pass.test", "mx", SG_SPF_PERMERROR},
        {"203.0.113.25", "", "", SG_SPF_PERMERROR},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        char *explain = NULL;
        enum sg_spf_result got = sg_spf_check(spf, rows[i].ip, rows[i].from, rows[i].helo, &explain);
        if (got != rows[i].want)
            fail_msg("row %zu (%s from %s): %s, expected %s (%s)", i, rows[i].from, rows[i].ip,
                     sg_spf_result_name(got), sg_spf_result_name(rows[i].want),
                     explain ? explain : "");
        assert_non_null(explain);
        assert_non_null(strstr(explain, sg_spf_result_name(rows[i].want)));
        free(explain);
    }
}

/* test_limits - RFC 7208 4.6.4, one row per limit and side of it; every
 * row twice, the second time from the cache, which counts the same */
static void
test_limits(void **state)
{
    struct sg_spf *spf = *state;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < SG_NELEM(limit_rows); i++) {
            char *explain = NULL;
            enum sg_spf_result got =
                sg_spf_check(spf, limit_rows[i].ip, limit_rows[i].from, "mx", &explain);
            if (got != limit_rows[i].want)
                fail_msg("pass %d row %zu (%s from %s): %s, expected %s (%s)", pass, i,
                         limit_rows[i].from, limit_rows[i].ip, sg_spf_result_name(got),
                         sg_spf_result_name(limit_rows[i].want), explain ? explain : "");
            assert_non_null(explain);
            assert_non_null(strstr(explain, sg_spf_result_name(limit_rows[i].want)));
            if (limit_rows[i].why != NULL && strstr(explain, limit_rows[i].why) == NULL)
                fail_msg("row %zu: \"%s\" does not say \"%s\"", i, explain, limit_rows[i].why);
            if (limit_rows[i].why != NULL)
                assert_non_null(strstr(explain, "(RFC 7208 4.6.4"));
            free(explain);
        }
    }
}

/* check_loop - one thread's checks, each just under the limits: arg if
 * all pass, else NULL */
static void *
check_loop(void *arg)
{
    struct sg_spf *spf = arg;
    for (int i = 0; i < 50; i++) {
        if (sg_spf_check(spf, "203.0.113.25", "a@ten.test", "mx", NULL) != SG_SPF_PASS ||
            sg_spf_check(spf, "203.0.113.25", "a@void2.test", "mx", NULL) != SG_SPF_PASS)
            return NULL;
    }
    return spf;
}

/* test_limits_per_check - the counts belong to one check: checks that each
 * stay just under the limits, in four threads at once on the shared
 * handle, all pass; DMARC's TXT lookups in between are not counted */
static void
test_limits_per_check(void **state)
{
    struct sg_spf *spf = *state;
    pthread_t threads[4];
    for (size_t i = 0; i < SG_NELEM(threads); i++)
        assert_int_equal(pthread_create(&threads[i], NULL, check_loop, spf), 0);
    for (int i = 0; i < 20; i++) {
        char **txts = NULL;
        size_t n = 9;
        char *error = NULL;
        assert_int_equal(sg_spf_txt(spf, "v1.void.test", &txts, &n, &error), SG_OK);
        assert_int_equal(n, 0);
        sg_strv_free(txts);
    }
    for (size_t i = 0; i < SG_NELEM(threads); i++) {
        void *ok = NULL;
        assert_int_equal(pthread_join(threads[i], &ok), 0);
        assert_ptr_equal(ok, spf);
    }
    assert_int_equal(sg_spf_check(spf, "203.0.113.25", "a@ten.test", "mx", NULL), SG_SPF_PASS);
}

/* test_txt - TXT lookups: every string, none, or a temporary failure */
static void
test_txt(void **state)
{
    struct sg_spf *spf = *state;
    char **txts = NULL;
    size_t n = 9;
    char *error = NULL;
    assert_int_equal(sg_spf_txt(spf, "_dmarc.pass.test", &txts, &n, &error), SG_OK);
    assert_int_equal(n, 2);
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found = found || strcmp(txts[i], "v=DMARC1; p=reject") == 0;
    assert_true(found);
    assert_null(txts[n]);
    sg_strv_free(txts);
    assert_int_equal(sg_spf_txt(spf, "_dmarc.nothing.test", &txts, &n, &error), SG_OK);
    assert_int_equal(n, 0);
    sg_strv_free(txts);
    assert_int_equal(sg_spf_txt(spf, "_dmarc.temp.test", &txts, &n, &error), SG_TEMP);
    assert_non_null(strstr(error, "_dmarc.temp.test"));
    free(error);
    assert_null(txts);
}

/* test_bad_zone - a malformed test entry is an error, not a silent zone */
static void
test_bad_zone(void **state)
{
    (void)state;
    static const char *const bad[] = {"x.test BOGUS data"};
    struct sg_spf *spf = NULL;
    char *error = NULL;
    assert_int_equal(sg_spf_new_zone(bad, 1, &spf, &error), SG_PERM);
    assert_null(spf);
    assert_non_null(strstr(error, "unknown type BOGUS"));
    free(error);
}

/* test_resolver - the daemon's set-up (resolver under the cache) and its
 * teardown; no query is made (tests have no DNS but the zone) */
static void
test_resolver(void **state)
{
    (void)state;
    struct sg_spf *spf = NULL;
    char *error = NULL;
    assert_int_equal(sg_spf_new(2000, &spf, &error), SG_OK);
    assert_non_null(spf);
    sg_spf_free(&spf);
    assert_null(spf);
    assert_string_equal(sg_spf_result_name(SG_SPF_SOFTFAIL), "softfail");
}

/* main - the cases, each limits case on a fresh zone and cache */
int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, limits_setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_per_check, limits_setup, teardown),
        cmocka_unit_test(test_bad_zone),
        cmocka_unit_test(test_resolver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
