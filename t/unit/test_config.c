/*
 * test_config.c - sendguard.conf: the shipped file, every kind of error
 * with its FILE:LINE, overrides (also "section.name=value", which keeps the
 * section's other options), and relative paths; the quarantine section's
 * defaults, durations and release_via forms.
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
    {"user = \"\"\nquarantine {\n  admin_group = \"mail\"\n  retention = \"5x\"\n}\n", 4,
     "retention \"5x\" is not a duration such as \"30d\""},
    {"quarantine { retention = \"\" }\n", 1, "is not a duration"},
    {"quarantine { retention = \"1d2\" }\n", 1, "is not a duration"},
    {"\nquarantine {\n release_via = \"smtp:127.0.0.1\"\n}\n", 3, "use \"smtp:HOST:PORT\""},
    {"quarantine { release_via = \"smtp:host:0\" }\n", 1, "a port from 1 to 65535"},
    {"\nalignment {\n egress_ips = {\"203.0.113.0/24\"}\n}\n", 3,
     "egress_ips: \"203.0.113.0/24\" is not an IP address (one address, no /prefix)"},
    {"alignment { on_dmarc_fail = \"drop\" }\n", 1,
     "on_dmarc_fail \"drop\": use accept, tag, rewrite, quarantine or reject"},
    {"alignment { on_dns_error = \"rewrite\" }\n", 1,
     "on_dns_error \"rewrite\": use accept, tag, quarantine or reject"},
    {"alignment {\n rewrite_from = \"<relay@relay.example>\"\n}\n", 2,
     "rewrite_from \"<relay@relay.example>\" is not a plain mail address"},
    {"alignment { rewrite_from = \"relay@foo@relay.example\" }\n", 1, "is not a plain mail address"},
    {"alignment { rewrite_from = \"relay@relay..example\" }\n", 1, "is not a plain mail address"},
    {"alignment { rewrite_from = \"relay@ex\xc3\xa4mple.nl\" }\n", 1, "is not a plain mail address"},
    {"alignment { rewrite_from = \"relay.@example.nl\" }\n", 1, "is not a plain mail address"},
    {"alignment { on_bad_from = \"rewrite\" }\n", 1,
     "on_bad_from \"rewrite\": use accept, tag, quarantine or reject"},
    {"alignment { bounce_address = \"bounces\" }\n", 1,
     "bounce_address \"bounces\" is not a plain mail address"},
    {"alignment { on_dns_error = \"drop\" }\n", 1, "on_dns_error \"drop\": use accept"},
    {"alignment { dns_timeout = \"soon\" }\n", 1, "dns_timeout \"soon\" is not a duration"},
    {"quarantine { release_via = \"smtp:host:70000\" }\n", 1, "a port from 1 to 65535"},
    {"quarantine { release_via = \"smtp:[::1]25\" }\n", 1, "\"smtp:[::1]:25\""},
    {"quarantine { release_via = \"sendmail:relative\" }\n", 1,
     "use \"smtp:HOST:PORT\" or \"sendmail:/usr/sbin/sendmail\""},
    {"quarantine { release_via = \"pipe:/x\" }\n", 1,
     "use \"smtp:HOST:PORT\" or \"sendmail:/usr/sbin/sendmail\""},
    {"quarantine {\n nonsense = 1\n}\n", 2, "no such option 'nonsense'"},
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

/* test_quarantine_defaults - the quarantine section's documented defaults */
static void
test_quarantine_defaults(void **state)
{
    (void)state;
    struct sg_config *cfg;
    char *error;
    assert_int_equal(load_text("state_directory = \"/srv/sg\"\n", NULL, 0, &cfg, &error, NULL),
                     SG_OK);
    assert_string_equal(cfg->database, "/srv/sg/quarantine/sendguard.db");
    assert_int_equal(cfg->retention, 30LL * 24 * 3600);
    assert_string_equal(cfg->release_via, "smtp:127.0.0.1:25");
    assert_string_equal(cfg->admin_group, "");
    /* alignment { }: off without egress IPs; DMARC failures held by default */
    assert_int_equal(cfg->n_egress_ips, 0);
    assert_int_equal(cfg->dns_timeout_ms, 5000);
    assert_int_equal(cfg->on_dmarc_fail, SG_CONFIG_QUARANTINE);
    assert_int_equal(cfg->on_spf_fail, SG_CONFIG_ACCEPT);
    assert_int_equal(cfg->on_dns_error, SG_CONFIG_ACCEPT);
    assert_int_equal(cfg->on_bad_from, SG_CONFIG_QUARANTINE);
    assert_string_equal(cfg->rewrite_from, "");
    assert_string_equal(cfg->bounce_address, "");
    sg_config_free(&cfg);
    assert_int_equal(load_text("state_directory = \"/srv/sg\"\n"
                               "alignment {\n egress_ips = {\"203.0.113.25\", \"2001:db8::25\"}\n"
                               " dns_timeout = \"2s\"\n on_spf_fail = \"tag\"\n}\n",
                               NULL, 0, &cfg, &error, NULL),
                     SG_OK);
    assert_int_equal(cfg->n_egress_ips, 2);
    assert_string_equal(cfg->egress_ips[1], "2001:db8::25");
    assert_int_equal(cfg->dns_timeout_ms, 2000);
    assert_int_equal(cfg->on_spf_fail, SG_CONFIG_TAG);
    sg_config_free(&cfg);

    /* The rewrites, and what each needs. */
    assert_int_equal(load_text("state_directory = \"/srv/sg\"\n"
                               "alignment {\n on_dmarc_fail = \"rewrite\"\n"
                               " on_spf_fail = \"rewrite\"\n"
                               " rewrite_from = \"Relay@Relay.Example\"\n"
                               " bounce_address = \"bounces@relay.example\"\n}\n",
                               NULL, 0, &cfg, &error, NULL),
                     SG_OK);
    assert_int_equal(cfg->on_dmarc_fail, SG_CONFIG_REWRITE);
    assert_int_equal(cfg->on_spf_fail, SG_CONFIG_REWRITE);
    assert_string_equal(cfg->rewrite_from, "Relay@Relay.Example");
    assert_string_equal(cfg->bounce_address, "bounces@relay.example");
    sg_config_free(&cfg);
    assert_int_equal(load_text("alignment { on_dmarc_fail = \"rewrite\" }\n", NULL, 0, &cfg,
                               &error, NULL),
                     SG_PERM);
    assert_non_null(strstr(error, "on_dmarc_fail = \"rewrite\" needs rewrite_from"));
    free(error);
    /* Without bounce_address the envelope can still become the From address. */
    assert_int_equal(load_text("alignment { on_spf_fail = \"rewrite\" }\n", NULL, 0, &cfg,
                               &error, NULL),
                     SG_OK);
    sg_config_free(&cfg);

    /* A relative database is under state_directory, an absolute one stays. */
    static const struct {
        const char *database, *want;
    } rows[] = {
        {"q/held.db", "/srv/sg/q/held.db"},
        {"/var/db/sg/held.db", "/var/db/sg/held.db"},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        char *text = sg_xasprintf("state_directory = \"/srv/sg\"\n"
                                  "quarantine {\n"
                                  "  database = \"%s\"\n"
                                  "  admin_group = \"sgadmin\"\n"
                                  "  retention = \"2w\"\n"
                                  "  release_via = \"sendmail:/usr/sbin/sendmail\"\n"
                                  "}\n",
                                  rows[i].database);
        assert_int_equal(load_text(text, NULL, 0, &cfg, &error, NULL), SG_OK);
        assert_string_equal(cfg->database, rows[i].want);
        assert_string_equal(cfg->admin_group, "sgadmin");
        assert_int_equal(cfg->retention, 14LL * 24 * 3600);
        assert_string_equal(cfg->release_via, "sendmail:/usr/sbin/sendmail");
        sg_config_free(&cfg);
        free(text);
    }
}

/* test_durations - suffixes s m h d w, "0", and what is not a duration */
static void
test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        long long seconds;
    } good[] = {
        {"90", 90},           {"90s", 90},          {"15m", 900}, {"12h", 43200},
        {"30d", 2592000},     {"2w", 1209600},      {"0", 0},     {"0d", 0},
    };
    for (size_t i = 0; i < SG_NELEM(good); i++) {
        long long n = -1;
        if (!sg_config_parse_duration(good[i].text, &n))
            fail_msg("\"%s\" refused", good[i].text);
        if (n != good[i].seconds)
            fail_msg("\"%s\" is %lld seconds, want %lld", good[i].text, n, good[i].seconds);
    }
    static const char *const bad[] = {
        "", "5x", "1d2", "-1", "99999999999d", "d", " 5", "5 ", "5dd", "1.5h",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        long long n = 42;
        if (sg_config_parse_duration(bad[i], &n))
            fail_msg("\"%s\" accepted as %lld seconds", bad[i], n);
        assert_int_equal(n, 42); /* untouched */
    }
}

/* test_release_via - the accepted forms, and why the others are refused */
static void
test_release_via(void **state)
{
    (void)state;
    static const struct {
        const char *via, *host, *port;
    } smtp[] = {
        {"smtp:127.0.0.1:25", "127.0.0.1", "25"},
        {"smtp:[::1]:2525", "::1", "2525"},
        {"smtp:mail.example.nl:587", "mail.example.nl", "587"},
        {"smtp:localhost:65535", "localhost", "65535"},
    };
    for (size_t i = 0; i < SG_NELEM(smtp); i++) {
        char *host = NULL, *port = NULL, *error = NULL;
        if (!sg_config_release_smtp(smtp[i].via, &host, &port, &error))
            fail_msg("\"%s\" refused: %s", smtp[i].via, error ? error : "(no error)");
        assert_string_equal(host, smtp[i].host);
        assert_string_equal(port, smtp[i].port);
        assert_null(error);
        free(host);
        free(port);
        /* And the configuration takes it. */
        char *text = sg_xasprintf("quarantine { release_via = \"%s\" }\n", smtp[i].via);
        struct sg_config *cfg;
        assert_int_equal(load_text(text, NULL, 0, &cfg, &error, NULL), SG_OK);
        assert_string_equal(cfg->release_via, smtp[i].via);
        sg_config_free(&cfg);
        free(text);
    }

    /* Not SMTP at all: false, and nothing to split. */
    char *host = NULL, *port = NULL, *error = NULL;
    assert_false(sg_config_release_smtp("sendmail:/usr/sbin/sendmail", &host, &port, &error));
    assert_null(host);
    assert_null(port);
    free(error);

    static const struct {
        const char *via, *says;
    } bad[] = {
        {"smtp:127.0.0.1", "smtp:HOST:PORT"},
        {"smtp:host:0", "port from 1 to 65535"},
        {"smtp:host:70000", "port from 1 to 65535"},
        {"smtp:host:", "port from 1 to 65535"},
        {"smtp:host:25x", "port from 1 to 65535"},
        {"smtp::25", "smtp:HOST:PORT"},
        {"smtp:[::1]25", "smtp:[::1]:25"},
        {"smtp:[::1:25", "smtp:[::1]:25"},
    };
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        host = port = error = NULL;
        if (sg_config_release_smtp(bad[i].via, &host, &port, &error))
            fail_msg("\"%s\" accepted as %s / %s", bad[i].via, host, port);
        if (error == NULL || strstr(error, bad[i].says) == NULL)
            fail_msg("\"%s\": error \"%s\" does not say \"%s\"", bad[i].via,
                     error ? error : "(none)", bad[i].says);
        assert_null(host);
        assert_null(port);
        free(error);
    }
}

/* test_section_overrides - "-o section.name=value" changes that option and
 * keeps the section's others; unknown options and bad values are named */
static void
test_section_overrides(void **state)
{
    (void)state;
    struct sg_config *cfg;
    char *error;
    static const char text[] = "state_directory = \"/srv/sg\"\n"
                               "scoring {\n"
                               "  tag_at = 4\n"
                               "  quarantine_at = 9\n"
                               "  reject_at = 20\n"
                               "  tag_header = \"X-Score\"\n"
                               "}\n"
                               "quarantine {\n"
                               "  database = \"/var/db/held.db\"\n"
                               "  admin_group = \"sgadmin\"\n"
                               "  retention = \"7d\"\n"
                               "  release_via = \"smtp:[::1]:2525\"\n"
                               "}\n";
    char *over[] = {"scoring.quarantine_at=5", "quarantine.retention=1s"};
    assert_int_equal(load_text(text, over, 2, &cfg, &error, NULL), SG_OK);
    assert_true(cfg->quarantine_at == 5.0);
    assert_true(cfg->tag_at == 4.0);
    assert_true(cfg->reject_at == 20.0);
    assert_string_equal(cfg->tag_header, "X-Score");
    assert_int_equal(cfg->retention, 1);
    assert_string_equal(cfg->database, "/var/db/held.db");
    assert_string_equal(cfg->admin_group, "sgadmin");
    assert_string_equal(cfg->release_via, "smtp:[::1]:2525");
    assert_string_equal(cfg->state_directory, "/srv/sg");
    sg_config_free(&cfg);

    /* Twice for one section, and for a section the file does not have. */
    char *over2[] = {"scoring.quarantine_at=2", "scoring.tag_at=1",
                     "quarantine.release_via=sendmail:/usr/sbin/sendmail"};
    assert_int_equal(load_text("scoring { reject_at = 30 }\n", over2, 3, &cfg, &error, NULL),
                     SG_OK);
    assert_true(cfg->quarantine_at == 2.0);
    assert_true(cfg->tag_at == 1.0);
    assert_true(cfg->reject_at == 30.0);
    assert_string_equal(cfg->release_via, "sendmail:/usr/sbin/sendmail");
    assert_int_equal(cfg->retention, 30LL * 24 * 3600);
    sg_config_free(&cfg);

    static const struct {
        const char *over, *says;
    } bad[] = {
        {"scoring.nonsense=1", "nonsense"},
        {"quarantine.retension=1d", "retension"},
        {"quarantine.retention=5x", "not a duration"},
        {"quarantine.release_via=pipe:/x", "smtp:HOST:PORT"},
        {"scoring.quarantine_at=-1", "0 (never) or positive"},
        {"nosection.name=1", "nosection"},
    };
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        char *o[] = {(char *)bad[i].over};
        if (load_text(text, o, 1, &cfg, &error, NULL) != SG_PERM)
            fail_msg("-o %s accepted", bad[i].over);
        assert_null(cfg);
        char *label = sg_xasprintf("-o %s: ", bad[i].over);
        if (strstr(error, label) == NULL || strstr(error, bad[i].says) == NULL)
            fail_msg("-o %s: got \"%s\", want \"%s\" and \"%s\"", bad[i].over, error, label,
                     bad[i].says);
        free(label);
        free(error);
    }
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
        cmocka_unit_test(test_quarantine_defaults),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_release_via),
        cmocka_unit_test(test_section_overrides),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
