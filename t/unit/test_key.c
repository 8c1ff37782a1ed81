/*
 * test_key.c - key files: the safety checks that keep a private key
 * private, loading both algorithms, generation and the DNS record.
 */
#include "key.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* test_mode_checks - group/world access is refused with the file and the fix named */
static void
test_mode_checks(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_key(dir, "k.pem", SG_KEY_RSA);
    static const unsigned bad_modes[] = {0644, 0640, 0604, 0620, 0602};
    for (size_t i = 0; i < SG_NELEM(bad_modes); i++) {
        char *error = NULL;
        struct sg_key *key = NULL;
        assert_int_equal(chmod(path, bad_modes[i]), 0);
        assert_int_equal(sg_key_load(path, getuid(), &key, &error), SG_PERM);
        assert_null(key);
        assert_non_null(strstr(error, path));
        assert_non_null(strstr(error, "chmod 600"));
        free(error);
    }
    assert_int_equal(chmod(path, 0400), 0);
    char *error = NULL;
    struct sg_key *key = NULL;
    assert_int_equal(sg_key_load(path, getuid(), &key, &error), SG_OK);
    sg_key_free(&key);
    assert_null(key);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

/* test_owner_checks - a key owned by another user is refused unless it is the daemon's user */
static void
test_owner_checks(void **state)
{
    (void)state;
    /* Changing a file's owner needs root: the test command runs as root. */
    assert_int_equal(geteuid(), 0);
    char *dir = tu_tempdir();
    char *path = tu_key(dir, "k.pem", SG_KEY_ED25519);
    assert_int_equal(chown(path, 65534, 0), 0);
    char *error = NULL;
    struct sg_key *key = NULL;
    assert_int_equal(sg_key_load(path, 0, &key, &error), SG_PERM);
    assert_non_null(strstr(error, "owned by uid 65534"));
    free(error);
    error = NULL;
    assert_int_equal(sg_key_load(path, 65534, &key, &error), SG_OK);
    sg_key_free(&key);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

/* test_not_a_key - garbage, a directory, a missing file, a public key */
static void
test_not_a_key(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *junk = tu_write(dir, "junk.pem", "hello\n", 0600);
    char *error = NULL;
    struct sg_key *key = NULL;
    assert_int_equal(sg_key_load(junk, getuid(), &key, &error), SG_PERM);
    assert_non_null(strstr(error, "no PEM private key"));
    free(error);
    assert_int_equal(sg_key_load(dir, getuid(), &key, &error), SG_PERM);
    assert_non_null(strstr(error, "not a regular file"));
    free(error);
    char *missing = sg_xasprintf("%s/none.pem", dir);
    assert_int_equal(sg_key_load(missing, getuid(), &key, &error), SG_PERM);
    assert_non_null(strstr(error, "does not exist"));
    assert_non_null(strstr(error, "sendguardctl keygen"));
    free(error);
    tu_rmtree(dir);
    free(dir);
    free(junk);
    free(missing);
}

/* test_symlink_and_encrypted - a symbolic link is refused (the check and the
 * read must see the same file); an encrypted key is refused without prompting */
static void
test_symlink_and_encrypted(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *real = tu_key(dir, "real.pem", SG_KEY_RSA);
    char *link = sg_xasprintf("%s/link.pem", dir);
    assert_int_equal(symlink(real, link), 0);
    char *error = NULL;
    struct sg_key *key = NULL;
    assert_int_equal(sg_key_load(link, getuid(), &key, &error), SG_PERM);
    assert_non_null(strstr(error, "symbolic link"));
    free(error);

    /* An encrypted PEM (made with the openssl tool; any passphrase). */
    char *enc = sg_xasprintf("%s/enc.pem", dir);
    char *cmd = sg_xasprintf("openssl pkey -in %s -aes256 -passout pass:secret -out %s && "
                             "chmod 600 %s",
                             real, enc, enc);
    assert_int_equal(system(cmd), 0);
    /* With stdin closed a prompt would fail differently; the message must name the cause. */
    assert_int_equal(sg_key_load(enc, getuid(), &key, &error), SG_PERM);
    assert_non_null(strstr(error, "encrypted"));
    free(error);
    tu_rmtree(dir);
    free(dir);
    free(real);
    free(link);
    free(enc);
    free(cmd);
}

/* test_algorithms - RSA and Ed25519 are told apart, with size and DNS record */
static void
test_algorithms(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *rsa = tu_key(dir, "rsa.pem", SG_KEY_RSA);
    char *ed = tu_key(dir, "ed.pem", SG_KEY_ED25519);
    struct sg_key *k1, *k2;
    char *error;
    assert_int_equal(sg_key_load(rsa, getuid(), &k1, &error), SG_OK);
    assert_int_equal(sg_key_load(ed, getuid(), &k2, &error), SG_OK);
    assert_int_equal(sg_key_alg(k1), SG_KEY_RSA);
    assert_int_equal(sg_key_bits(k1), 2048);
    assert_int_equal(sg_key_alg(k2), SG_KEY_ED25519);
    assert_string_equal(sg_key_alg_name(sg_key_alg(k2)), "ed25519-sha256");

    char *v1 = sg_key_dns_value(k1);
    char *v2 = sg_key_dns_value(k2);
    assert_true(strncmp(v1, "v=DKIM1; k=rsa; p=MIIBIjAN", 25) == 0);
    /* RFC 8463: p= is the bare 32-byte key, 44 characters of base64. */
    assert_true(strncmp(v2, "v=DKIM1; k=ed25519; p=", 22) == 0);
    assert_int_equal(strlen(v2 + 22), 44);
    free(v1);
    free(v2);
    sg_key_free(&k1);
    sg_key_free(&k2);
    tu_rmtree(dir);
    free(dir);
    free(rsa);
    free(ed);
}

/* test_generate - new keys are 0600 and an existing file is never overwritten */
static void
test_generate(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = tu_key(dir, "new.pem", SG_KEY_ED25519);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *error = NULL;
    assert_int_equal(sg_key_generate(path, SG_KEY_RSA, 2048, &error), SG_PERM);
    assert_non_null(strstr(error, "File exists"));
    free(error);
    struct sg_key *key;
    assert_int_equal(sg_key_load(path, getuid(), &key, &error), SG_OK);
    assert_int_equal(sg_key_alg(key), SG_KEY_ED25519);
    sg_key_free(&key);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

/* test_short_rsa - RSA below 1024 bits is refused */
static void
test_short_rsa(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    char *path = sg_xasprintf("%s/short.pem", dir);
    char *error = NULL;
    assert_int_equal(sg_key_generate(path, SG_KEY_RSA, 512, &error), SG_OK);
    struct sg_key *key = NULL;
    assert_int_equal(sg_key_load(path, getuid(), &key, &error), SG_PERM);
    assert_non_null(strstr(error, "too short"));
    free(error);
    tu_rmtree(dir);
    free(dir);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_checks), cmocka_unit_test(test_owner_checks),
        cmocka_unit_test(test_not_a_key),   cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_symlink_and_encrypted),
        cmocka_unit_test(test_generate),    cmocka_unit_test(test_short_rsa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
