/*
 * test_cidr.c - internal_hosts matching, IPv4 and IPv6.
 */
#include "cidr.h"
#include "testutil.h"

#include <stdlib.h>

static const struct {
    const char *net, *addr;
    bool match;
} rows[] = {
    {"127.0.0.0/8", "127.0.0.1", true},
    {"127.0.0.0/8", "127.255.1.2", true},
    {"127.0.0.0/8", "128.0.0.1", false},
    {"10.1.2.3/8", "10.200.0.1", true}, /* host bits ignored */
    {"192.0.2.10", "192.0.2.10", true},
    {"192.0.2.10", "192.0.2.11", false},
    {"192.0.2.0/25", "192.0.2.127", true},
    {"192.0.2.0/25", "192.0.2.128", false},
    {"0.0.0.0/0", "203.0.113.9", true},
    {"::1/128", "::1", true},
    {"::1", "::2", false},
    {"2001:db8::/32", "2001:db8:ffff::1", true},
    {"2001:db8::/32", "2001:db9::1", false},
    {"2001:db8::/32", "IPv6:2001:db8::5", true}, /* Postfix's form */
    {"192.0.2.0/24", "::ffff:192.0.2.7", true},  /* IPv4-mapped */
    {"fe80::/10", "fe80::1%eth0", true},         /* zone index */
    {"127.0.0.0/8", "not-an-address", false},
    {"127.0.0.0/8", "", false},
};

/* test_match - each row's network against its address */
static void
test_match(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct sg_cidr_list *l = sg_cidr_list_new();
        const char *error;
        assert_int_equal(sg_cidr_list_add(l, rows[i].net, &error), SG_OK);
        if (sg_cidr_list_match(l, rows[i].addr) != rows[i].match)
            fail_msg("row %zu: %s in %s should be %d", i, rows[i].addr, rows[i].net, rows[i].match);
        sg_cidr_list_free(&l);
        assert_null(l);
    }
}

/* test_bad - malformed networks are refused with a reason */
static void
test_bad(void **state)
{
    (void)state;
    static const char *const bad[] = {"",         "10.0.0.0/",   "10.0.0.0/33", "::/129",
                                      "10.0.0/8", "10.0.0.0/8x", "example.com", "1.2.3.4/-1"};
    struct sg_cidr_list *l = sg_cidr_list_new();
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        const char *error = NULL;
        if (sg_cidr_list_add(l, bad[i], &error) != SG_PERM)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_non_null(error);
    }
    assert_false(sg_cidr_list_match(l, "10.0.0.1"));
    assert_false(sg_cidr_list_match(NULL, "10.0.0.1"));
    sg_cidr_list_free(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_match), cmocka_unit_test(test_bad)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
