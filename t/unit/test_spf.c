/*
 * test_spf.c - the SPF result a receiver will compute, for every result
 * kind (pass, fail, softfail, neutral, none, permerror for a syntax error or
 * an unknown mechanism, temperror), for
 * IPv4 and IPv6, through include: and a:, for the null sender (the HELO
 * name is checked), and the TXT lookups DMARC uses; all on libspf2's
 * in-memory zone (the module's contract: DNS answers in, SPF results out).
 *
 * Not here yet: libspf2 1.2.10 neither carries the 10-lookup count across
 * include: levels nor counts void lookups (its issues #51 and #24), so
 * "toomany.test" and "void.test" below pass where RFC 7208 receivers
 * return permerror.  sendguard needs its own count for those (issue 5).
 */
#include "spf.h"
#include "testutil.h"

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
    "void.test TXT v=spf1 a:v1.void.test a:v2.void.test a:v3.void.test ip4:203.0.113.25 -all",
    "v1.void.test NXDOMAIN",
    "v2.void.test NXDOMAIN",
    "v3.void.test NXDOMAIN",
    "broken-dns.test TEMPFAIL",
    "helo.relay.test TXT v=spf1 ip4:203.0.113.25 -all",
    "_dmarc.pass.test TXT v=DMARC1; p=reject",
    "_dmarc.pass.test TXT some other text",
    "_dmarc.temp.test TEMPFAIL",
};

/* setup - the zone */
static int
setup(void **state)
{
    struct sg_spf *spf = NULL;
    char *error = NULL;
    if (sg_spf_new_zone(zone, SG_NELEM(zone), &spf, &error) != SG_OK) {
        fprintf(stderr, "%s\n", error);
        free(error);
        return -1;
    }
    *state = spf;
    return 0;
}

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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txt, setup, teardown),
        cmocka_unit_test(test_bad_zone),
        cmocka_unit_test(test_resolver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
