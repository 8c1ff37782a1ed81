/*
 * test_keyring.c - which keys sign for which From domain.
 */
#include "config.h"
#include "keyring.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
    char *dir;
    struct sg_keyring *ring;
};

/* setup - example.nl with RSA+Ed25519 in the config, shop.example.com from key_directory */
static int
setup(void **state)
{
    struct fixture *f = sg_xcalloc(1, sizeof(*f));
    f->dir = tu_tempdir();
    char *rsa = tu_key(f->dir, "rsa.pem", SG_KEY_RSA);
    char *ed = tu_key(f->dir, "ed.pem", SG_KEY_ED25519);
    char *kd = sg_xasprintf("%s/keys", f->dir);
    char *sub = sg_xasprintf("%s/keys/example.com", f->dir);
    assert_int_equal(mkdir(kd, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    free(tu_key(sub, "k1.pem", SG_KEY_ED25519));
    free(tu_write(sub, "README", "not a key\n", 0644));
    char *text = sg_xasprintf("state_directory = \"%s\"\n"
                              "domain \"example.nl\" {\n"
                              "  key \"rsa2026\" { file = \"%s\" }\n"
                              "  key \"ed2026\" { file = \"%s\" }\n"
                              "}\n",
                              f->dir, rsa, ed);
    char *conf = tu_write(f->dir, "sg.conf", text, 0600);
    struct sg_config *cfg;
    char *error = NULL;
    assert_int_equal(sg_config_load(conf, NULL, 0, &cfg, &error), SG_OK);
    if (sg_keyring_load(cfg, getuid(), &f->ring, &error) != SG_OK)
        fail_msg("%s", error);
    sg_config_free(&cfg);
    free(rsa);
    free(ed);
    free(kd);
    free(sub);
    free(text);
    free(conf);
    *state = f;
    return 0;
}

/* teardown - free the ring and the files */
static int
teardown(void **state)
{
    struct fixture *f = *state;
    sg_keyring_free(&f->ring);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Rows: From domain, sign_subdomains, expected d= (NULL: no key), number of keys. */
static const struct {
    const char *from;
    bool subdomains;
    const char *d;
    size_t nkeys;
} rows[] = {
    {"example.nl", false, "example.nl", 2},
    {"EXAMPLE.NL", false, "example.nl", 2},
    {"shop.example.nl", false, NULL, 0},
    {"shop.example.nl", true, "example.nl", 2},
    {"a.b.shop.example.nl", true, "example.nl", 2},
    {"example.com", false, "example.com", 1},
    {"notexample.nl", true, NULL, 0},
    {"nl", true, NULL, 0},
    {"other.test", true, NULL, 0},
};

/* test_select - the table above */
static void
test_select(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        const struct sg_signing_key *keys;
        const char *d;
        size_t n = sg_keyring_select(f->ring, rows[i].from, rows[i].subdomains, &keys, &d);
        if (n != rows[i].nkeys)
            fail_msg("row %zu (%s): %zu keys, want %zu", i, rows[i].from, n, rows[i].nkeys);
        if (rows[i].d == NULL)
            assert_null(d);
        else
            assert_string_equal(d, rows[i].d);
    }
}

/* test_two_algorithms - example.nl signs with RSA and Ed25519, in configured order */
static void
test_two_algorithms(void **state)
{
    struct fixture *f = *state;
    const struct sg_signing_key *keys;
    const char *d;
    assert_int_equal(sg_keyring_select(f->ring, "example.nl", false, &keys, &d), 2);
    assert_string_equal(keys[0].selector, "rsa2026");
    assert_int_equal(sg_key_alg(keys[0].key), SG_KEY_RSA);
    assert_string_equal(keys[1].selector, "ed2026");
    assert_int_equal(sg_key_alg(keys[1].key), SG_KEY_ED25519);
    assert_string_equal(
        sg_keyring_select(f->ring, "example.com", false, &keys, &d) ? keys[0].selector : "", "k1");
}

/* test_unsafe_key_refuses_all - one unsafe key stops the load, naming it */
static void
test_unsafe_key_refuses_all(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *key = tu_key(dir, "k.pem", SG_KEY_RSA);
    assert_int_equal(chmod(key, 0644), 0);
    char *text = sg_xasprintf("state_directory = \"%s\"\ndomain \"a.nl\" { key \"s\" { file = "
                              "\"%s\" } }\n",
                              dir, key);
    char *conf = tu_write(dir, "sg.conf", text, 0600);
    struct sg_config *cfg;
    struct sg_keyring *ring = NULL;
    char *error = NULL;
    assert_int_equal(sg_config_load(conf, NULL, 0, &cfg, &error), SG_OK);
    assert_int_equal(sg_keyring_load(cfg, getuid(), &ring, &error), SG_PERM);
    assert_null(ring);
    assert_non_null(strstr(error, key));
    assert_non_null(strstr(error, "domain a.nl, selector s: "));
    free(error);
    sg_config_free(&cfg);
    tu_rmtree(dir);
    free(dir);
    free(key);
    free(text);
    free(conf);
}

/* load_dir_config - a ring from a config whose key_directory is dir/keys */
static enum sg_rc
load_dir_config(const char *dir, struct sg_keyring **ring, char **error)
{
    char *text = sg_xasprintf("state_directory = \"%s\"\n", dir);
    char *conf = tu_write(dir, "sg.conf", text, 0600);
    struct sg_config *cfg;
    assert_int_equal(sg_config_load(conf, NULL, 0, &cfg, error), SG_OK);
    enum sg_rc rc = sg_keyring_load(cfg, getuid(), ring, error);
    sg_config_free(&cfg);
    free(text);
    free(conf);
    return rc;
}

/* test_key_directory_safety - an empty key directory is fine; one others can
 * write to, a symlinked domain directory or a file name that is no selector is refused */
static void
test_key_directory_safety(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *kd = sg_xasprintf("%s/keys", dir);
    assert_int_equal(mkdir(kd, 0700), 0);
    struct sg_keyring *ring = NULL;
    char *error = NULL;
    assert_int_equal(load_dir_config(dir, &ring, &error), SG_OK);
    assert_int_equal(sg_keyring_domains(ring), 0);
    sg_keyring_free(&ring);

    assert_int_equal(chmod(kd, 0777), 0);
    assert_int_equal(load_dir_config(dir, &ring, &error), SG_PERM);
    assert_non_null(strstr(error, "writable by its owner only"));
    free(error);
    assert_int_equal(chmod(kd, 0700), 0);

    char *elsewhere = sg_xasprintf("%s/elsewhere", dir);
    char *link = sg_xasprintf("%s/example.nl", kd);
    assert_int_equal(mkdir(elsewhere, 0700), 0);
    assert_int_equal(symlink(elsewhere, link), 0);
    assert_int_equal(load_dir_config(dir, &ring, &error), SG_PERM);
    assert_non_null(strstr(error, "symbolic links are refused"));
    free(error);
    assert_int_equal(unlink(link), 0);

    assert_int_equal(mkdir(link, 0700), 0);
    free(tu_key(link, "s1; l=1.pem", SG_KEY_ED25519));
    assert_int_equal(load_dir_config(dir, &ring, &error), SG_PERM);
    assert_non_null(strstr(error, "is not a selector"));
    free(error);
    tu_rmtree(dir);
    free(dir);
    free(kd);
    free(elsewhere);
    free(link);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_select, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_algorithms, setup, teardown),
        cmocka_unit_test(test_unsafe_key_refuses_all),
        cmocka_unit_test(test_key_directory_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
