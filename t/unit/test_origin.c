/*
 * test_origin.c - which mail counts as outgoing.
 */
#include "config.h"
#include "origin.h"
#include "testutil.h"

#include <stdlib.h>

static const struct {
    const char *client, *auth, *daemon;
    enum sg_origin want;
} rows[] = {
    {"127.0.0.1", NULL, "smtpd", SG_ORIGIN_INTERNAL}, /* local submission / internal */
    {"::1", NULL, NULL, SG_ORIGIN_INTERNAL},
    {"192.0.2.1", NULL, "smtpd", SG_ORIGIN_INBOUND},
    {"192.0.2.1", "alice", "smtpd", SG_ORIGIN_AUTH},
    {"192.0.2.1", "", "smtpd", SG_ORIGIN_INBOUND}, /* empty macro: no auth */
    {"192.0.2.1", NULL, "ORIGINATING", SG_ORIGIN_DAEMON},
    {"192.0.2.1", NULL, "originating", SG_ORIGIN_INBOUND}, /* exact name, as Postfix sends it */
    {NULL, NULL, NULL, SG_ORIGIN_INBOUND},
    {"10.9.8.7", NULL, NULL, SG_ORIGIN_INTERNAL}, /* from the extra internal_hosts entry */
};

/* test_classify - each row */
static void
test_classify(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *conf = tu_write(dir, "sg.conf",
                          "internal_hosts = {\"127.0.0.0/8\", \"::1\", \"10.0.0.0/8\"}\n", 0600);
    struct sg_config *cfg;
    char *error;
    assert_int_equal(sg_config_load(conf, NULL, 0, &cfg, &error), SG_OK);
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        enum sg_origin got = sg_origin_classify(cfg, rows[i].client, rows[i].auth, rows[i].daemon);
        if (got != rows[i].want)
            fail_msg("row %zu: %s, want %s", i, sg_origin_name(got), sg_origin_name(rows[i].want));
    }
    sg_config_free(&cfg);
    tu_rmtree(dir);
    free(dir);
    free(conf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_classify)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
