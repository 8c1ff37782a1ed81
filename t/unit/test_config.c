/*
 * test_config.c - sendguard.conf: the shipped file, every kind of error
 * with its FILE:LINE, overrides, and relative paths.
 */
#include "config.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* load_text - write text as a config file and load it; returns rc, fills cfg or error */
static enum sg_rc
load_text(const char *text, char *const *over, size_t nover, struct sg_config **cfg_r,
          char **error_r, char **path_r)
{
    char *dir = tu_tempdir();
    char *path = tu_write(dir, "sendguard.conf", text, 0644);
    *cfg_r = NULL;
    *error_r = NULL;
    enum sg_rc rc = sg_config_load(path, over, nover, cfg_r, error_r);
    tu_rmtree(dir);
    free(dir);
    if (path_r != NULL)
        *path_r = path;
    else
        free(path);
    return rc;
}

/* test_shipped_config - etc/sendguard.conf loads and its defaults are the documented ones */
static void
test_shipped_config(void **state)
{
    (void)state;
    char *path = tu_source("etc/sendguard.conf");
    struct sg_config *cfg;
    char *error = NULL;
    assert_int_equal(sg_config_load(path, NULL, 0, &cfg, &error), SG_OK);
    assert_string_equal(cfg->socket, "unix:/var/spool/postfix/sendguard/sendguard.sock");
    assert_int_equal(cfg->socket_mode, 0660);
    assert_string_equal(cfg->user, "sendguard");
    assert_string_equal(cfg->key_directory, "/var/lib/sendguard/keys");
    assert_int_equal(cfg->spool_memory_limit, 1024 * 1024);
    assert_int_equal(cfg->header_canon, SG_CANON_RELAXED);
    assert_int_equal(cfg->body_canon, SG_CANON_RELAXED);
    assert_false(cfg->sign_subdomains);
    assert_int_equal(cfg->on_internal_error, SG_ON_ERROR_TEMPFAIL);
    assert_true(sg_cidr_list_match(cfg->internal_hosts, "127.0.0.1"));
    assert_true(sg_cidr_list_match(cfg->internal_hosts, "::1"));
    assert_false(sg_cidr_list_match(cfg->internal_hosts, "192.0.2.1"));
    assert_string_equal(cfg->oversign_headers[0], "From");
    assert_int_equal(cfg->ndomains, 0);
    /* The rules beside the configuration; scoring thresholds as documented. */
    char *rules = tu_source("etc/rules.conf");
    assert_string_equal(cfg->rules_file, rules);
    free(rules);
    assert_true(cfg->tag_at == 3.0 && cfg->quarantine_at == 8.0 && cfg->reject_at == 0.0);
    assert_string_equal(cfg->tag_header, "");
    sg_config_free(&cfg);
    assert_null(cfg);
    free(path);

    /* rules = "" switches content scoring off; it is not a path. */
    char *over[] = {"state_directory=/tmp"};
    char *d = tu_tempdir();
    char *conf = tu_write(d, "sg.conf", "scoring { rules = \"\" }\n", 0600);
    error = NULL;
    assert_int_equal(sg_config_load(conf, over, 1, &cfg, &error), SG_OK);
    assert_string_equal(cfg->rules_file, "");
    sg_config_free(&cfg);
    tu_rmtree(d);
    free(d);
    free(conf);
}

/* test_domains_and_relative_paths - domain blocks; relative paths land under state_directory */
static void
test_domains_and_relative_paths(void **state)
{
    (void)state;
    struct sg_config *cfg;
    char *error;
    assert_int_equal(load_text("state_directory = \"/srv/sg\"\n"
                               "pid_file = \"run/sg.pid\"\n"
                               "canonicalization = \"simple/relaxed\"\n"
                               "internal_hosts = {\"10.0.0.0/8\", # a comment inside a list\n"
                               "                  \"192.0.2.0/24\"}\n"
                               "domain \"Example.NL.\" {\n"
                               "  key \"s2026\" { file = \"keys/a.pem\" }\n"
                               "  key \"e2026\" { file = \"/etc/sg/b.pem\" }\n"
                               "}\n",
                               NULL, 0, &cfg, &error, NULL),
                     SG_OK);
    assert_string_equal(cfg->pid_file, "/srv/sg/run/sg.pid");
    assert_int_equal(cfg->header_canon, SG_CANON_SIMPLE);
    assert_int_equal(cfg->body_canon, SG_CANON_RELAXED);
    assert_true(sg_cidr_list_match(cfg->internal_hosts, "192.0.2.1"));
    assert_int_equal(cfg->ndomains, 1);
    assert_string_equal(cfg->domains[0].name, "example.nl");
    assert_int_equal(cfg->domains[0].nkeys, 2);
    assert_string_equal(cfg->domains[0].keys[0].selector, "s2026");
    assert_string_equal(cfg->domains[0].keys[0].file, "/srv/sg/keys/a.pem");
    assert_string_equal(cfg->domains[0].keys[1].file, "/etc/sg/b.pem");
    sg_config_free(&cfg);
}

/* One broken file per row: the error must name the line and say what is wrong. */
static const struct {
    const char *text;
    int line;
    const char *says;
} errors[] = {
    {"user = \"x\"\nsocket = \n", 3, "premature end of file"},
    {"\nfoo = 1\n", 2, "no such option 'foo'"},
    /* Comments must not shift line numbers (libconfuse 3.3 counts each as three lines). */
    {"# one\n# two\nuser = \"a#b\" // three\n/* four\nfive */\nfoo = 1\n", 6, "no such option"},
    {"socket = \"tcp:8891\"\n", 1, "not a milter socket"},
    {"socket = \"unix:relative.sock\"\n", 1, "must be absolute"},
    {"socket = \"inet:99999@127.0.0.1\"\n", 1, "not a milter socket"},
    {"socket_mode = \"0999\"\n", 1, "octal"},
    {"spool_memory_limit = \"lots\"\n", 1, "not a size"},
    {"on_internal_error = \"panic\"\n", 1, "tempfail"},
    {"syslog_facility = \"kern2\"\n", 1, "unknown"},
    {"canonicalization = \"loose/simple\"\n", 1, "simple or relaxed"},
    {"#c\ninternal_hosts = {\"10.0.0.0/8\", \"10.1.2.3/40\"}\n", 2, "prefix length"},
    {"internal_hosts = {\"example.com\"}\n", 1, "not an IPv4 or IPv6 address"},
    {"sign_headers = {\"From\", \"Bad Name\"}\n", 1, "not a header field name"},
    {"sign_subdomains = maybe\n", 1, "sign_subdomains"},
    {"domain \"example.nl\" {\n}\n", 2, "has no key"},
    {"domain \"exa mple.nl\" { key \"s\" { file = \"/k\" } }\n", 1, "not a domain name"},
    {"domain \"example.nl\" {\n key \"s1\" { }\n}\n", 2, "has no file"},
    {"domain \"a.nl\" { key \"s\" { file = \"/k\" } }\ndomain \"a.nl\" { key \"t\" { file = "
     "\"/k\" } }\n",
     2, "a.nl"},
};

/* test_errors - each broken file gives FILE:LINE: message */
static void
test_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(errors); i++) {
        struct sg_config *cfg;
        char *error, *path;
        enum sg_rc rc = load_text(errors[i].text, NULL, 0, &cfg, &error, &path);
        if (rc != SG_PERM)
            fail_msg("row %zu: expected an error for: %s", i, errors[i].text);
        assert_null(cfg);
        char *prefix = sg_xasprintf("%s:%d: ", path, errors[i].line);
        if (strncmp(error, prefix, strlen(prefix)) != 0 || strstr(error, errors[i].says) == NULL)
            fail_msg("row %zu: got \"%s\", want prefix \"%s\" and \"%s\"", i, error, prefix,
                     errors[i].says);
        free(prefix);
        free(error);
        free(path);
    }
}

/* test_missing_file - an unreadable file is an error that names it */
static void
test_missing_file(void **state)
{
    (void)state;
    struct sg_config *cfg;
    char *error;
    assert_int_equal(sg_config_load("/nonexistent/sendguard.conf", NULL, 0, &cfg, &error), SG_PERM);
    assert_non_null(strstr(error, "/nonexistent/sendguard.conf: cannot read"));
    free(error);
}

/* test_overrides - -o replaces values, quoted or not, and bad ones are named */
static void
test_overrides(void **state)
{
    (void)state;
    struct sg_config *cfg;
    char *error;
    char *over[] = {"state_directory=/tmp/x", "socket=inet:8891@127.0.0.1",
                    "internal_hosts={\"192.0.2.0/24\"}"};
    assert_int_equal(load_text("user = \"\"\n", over, 3, &cfg, &error, NULL), SG_OK);
    assert_string_equal(cfg->state_directory, "/tmp/x");
    assert_string_equal(cfg->key_directory, "/tmp/x/keys");
    assert_string_equal(cfg->socket, "inet:8891@127.0.0.1");
    assert_true(sg_cidr_list_match(cfg->internal_hosts, "192.0.2.7"));
    assert_false(sg_cidr_list_match(cfg->internal_hosts, "127.0.0.1"));
    sg_config_free(&cfg);

    char *bad[] = {"socket_mode=rw"};
    assert_int_equal(load_text("", bad, 1, &cfg, &error, NULL), SG_PERM);
    assert_non_null(strstr(error, "-o socket_mode=rw: "));
    free(error);
    char *noeq[] = {"socket"};
    assert_int_equal(load_text("", noeq, 1, &cfg, &error, NULL), SG_PERM);
    assert_non_null(strstr(error, "expected name=value"));
    free(error);
}

/* test_sizes - size suffixes */
static void
test_sizes(void **state)
{
    (void)state;
    size_t n;
    assert_true(sg_config_parse_size("512", &n));
    assert_int_equal(n, 512);
    assert_true(sg_config_parse_size("64k", &n));
    assert_int_equal(n, 65536);
    assert_true(sg_config_parse_size("8M", &n));
    assert_int_equal(n, 8 << 20);
    assert_false(sg_config_parse_size("", &n));
    assert_false(sg_config_parse_size("1T", &n));
    assert_false(sg_config_parse_size("-1", &n));
    assert_false(sg_config_parse_size("99999999999G", &n));
}

/* test_postfix_socket_names - the milter address Postfix needs for each socket */
static void
test_postfix_socket_names(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } rows[] = {
        {"unix:/var/spool/postfix/sendguard/sendguard.sock", "unix:sendguard/sendguard.sock"},
        {"local:/run/sg.sock", "unix:/run/sg.sock"},
        {"inet:8891@127.0.0.1", "inet:127.0.0.1:8891"},
        {"inet6:8891@::1", "inet:[::1]:8891"},
        {"inet:8891", "inet:127.0.0.1:8891"},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        char *s = sg_config_socket_postfix(rows[i].in);
        assert_string_equal(s, rows[i].out);
        free(s);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_config),
        cmocka_unit_test(test_domains_and_relative_paths),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_postfix_socket_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
