/*
 * test_pipeline.c - one message through analyse/decide/sign: which messages
 * are signed, with which keys, and why the others are not.  That the
 * signatures verify is proven by independent verifiers in t/e2e; here the
 * body hash is checked against one computed with OpenSSL directly, which
 * shows the spooled body (memory or file) reaches the signer intact.
 */
#include "mime.h"
#include "pipeline.h"
#include "testutil.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct fixture {
    char *dir;
    struct sg_runtime *rt;
};

/* make_runtime - example.nl with RSA + Ed25519; spool limit and more config text as given */
static struct fixture *
make_runtime(const char *spool_limit, const char *extra)
{
    struct fixture *f = sg_xcalloc(1, sizeof(*f));
    f->dir = tu_tempdir();
    char *rsa = tu_key(f->dir, "rsa.pem", SG_KEY_RSA);
    char *ed = tu_key(f->dir, "ed.pem", SG_KEY_ED25519);
    char *rules = tu_source("etc/rules.conf");
    char *text = sg_xasprintf("state_directory = \"%s\"\nspool_directory = \"%s\"\n"
                              "scoring { rules = \"%s\" }\n"
                              "spool_memory_limit = \"%s\"\n"
                              "domain \"example.nl\" {\n"
                              "  key \"rsa2026\" { file = \"%s\" }\n"
                              "  key \"ed2026\" { file = \"%s\" }\n"
                              "}\n%s",
                              f->dir, f->dir, rules, spool_limit, rsa, ed, extra);
    char *conf = tu_write(f->dir, "sg.conf", text, 0600);
    struct sg_config *cfg;
    char *error = NULL;
    assert_int_equal(sg_config_load(conf, NULL, 0, &cfg, &error), SG_OK);
    if (sg_runtime_new(cfg, getuid(), &f->rt, &error) != SG_OK)
        fail_msg("%s", error);
    sg_dkim_set_time(f->rt->dkim, 1790000000);
    free(rsa);
    free(ed);
    free(rules);
    free(text);
    free(conf);
    return f;
}

/* setup - default fixture */
static int
setup(void **state)
{
    sg_mime_init();
    *state = make_runtime("1M", "");
    return 0;
}

/* teardown - drop runtime and files */
static int
teardown(void **state)
{
    struct fixture *f = *state;
    sg_runtime_unref(&f->rt);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* run - parse text and run the pipeline */
static void
run(struct fixture *f, const char *text, enum sg_origin origin, struct sg_verdict *v)
{
    struct sg_msg *m = sg_msg_new(f->rt->cfg->spool_memory_limit, f->rt->cfg->spool_directory);
    char *error = NULL;
    assert_int_equal(sg_msg_parse(m, text, strlen(text), &error), SG_OK);
    sg_pipeline_run(f->rt, m, origin, "", 0, SG_REWRITE_ALL, v);
    sg_msg_free(&m);
}

/* body_hash - base64(sha256(canonical body)), computed without libopendkim */
static char *
body_hash(const char *canonical, size_t len)
{
    unsigned char md[32];
    unsigned int mdlen;
    EVP_Digest(canonical, len, md, &mdlen, EVP_sha256(), NULL);
    char *out = sg_xmalloc(64);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
    return out;
}

/* tag - the value of tag name= in a signature, whitespace removed (caller frees) */
static char *
tag(const char *sig, const char *name)
{
    char *key = sg_xasprintf("%s=", name);
    const char *p = sig;
    while ((p = strstr(p, key)) != NULL) {
        if (p == sig || p[-1] == ' ' || p[-1] == ';' || p[-1] == '\t' || p[-1] == '\n')
            break;
        p++;
    }
    assert_non_null(p);
    p += strlen(key);
    free(key);
    char *out = sg_xmalloc(strlen(p) + 1);
    size_t o = 0;
    for (; *p && *p != ';'; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            out[o++] = *p;
    out[o] = '\0';
    return out;
}

/* count_names - how often a header name occurs in an h= list */
static int
count_names(const char *h, const char *name)
{
    char *copy = sg_xstrdup(h), *save, *tok;
    int n = 0;
    for (tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
        n += strcasecmp(tok, name) == 0;
    free(copy);
    return n;
}

static const char invoice[] = "From: =?UTF-8?Q?Bakkerij_M=C3=BCller?= <factuur@example.nl>\r\n"
                              "To: klant@example.com\r\n"
                              "Subject: =?UTF-8?Q?Factuur_2026-0042?=\r\n"
                              "\r\n"
                              "Beste klant,  \r\n"
                              "\r\n"
                              "In de bijlage   vindt u de factuur.\r\n"
                              "\r\n"
                              "\r\n";

/* relaxed canonical form of the body above (RFC 6376 3.4.4) */
static const char invoice_relaxed[] = "Beste klant,\r\n\r\nIn de bijlage vindt u de factuur.\r\n";

/* check_signed - two signatures, RSA then Ed25519, both for example.nl with the right bh= */
static void
check_signed(const struct sg_verdict *v)
{
    assert_int_equal(v->dkim, SG_DKIM_SIGNED);
    assert_int_equal(v->action, SG_ACTION_ACCEPT);
    assert_string_equal(v->from_domain, "example.nl");
    assert_string_equal(v->d, "example.nl");
    assert_string_equal(v->selectors, "rsa2026,ed2026");
    assert_int_equal(v->nsignatures, 2);
    static const char *const algs[] = {"rsa-sha256", "ed25519-sha256"};
    static const char *const sels[] = {"rsa2026", "ed2026"};
    char *want_bh = body_hash(invoice_relaxed, strlen(invoice_relaxed));
    for (size_t i = 0; i < 2; i++) {
        /* Values go to the MTA with bare LF folds: a CR would go on the wire as CR CR LF. */
        assert_null(strchr(v->signatures[i], '\r'));
        char *a = tag(v->signatures[i], "a"), *s = tag(v->signatures[i], "s"),
             *d = tag(v->signatures[i], "d"), *bh = tag(v->signatures[i], "bh"),
             *h = tag(v->signatures[i], "h"), *t = tag(v->signatures[i], "t");
        assert_string_equal(a, algs[i]);
        assert_string_equal(s, sels[i]);
        assert_string_equal(d, "example.nl");
        assert_string_equal(bh, want_bh);
        assert_string_equal(t, "1790000000");
        /* From is oversigned (listed once more than it occurs), so a second
         * From cannot be added without breaking the signature. */
        assert_int_equal(count_names(h, "From"), 2);
        assert_int_equal(count_names(h, "Subject"), 2);
        free(a);
        free(s);
        free(d);
        free(bh);
        free(h);
        free(t);
    }
    free(want_bh);
}

/* test_signs_with_both_keys - an outgoing invoice gets RSA and Ed25519 signatures */
static void
test_signs_with_both_keys(void **state)
{
    struct sg_verdict v;
    run(*state, invoice, SG_ORIGIN_INTERNAL, &v);
    check_signed(&v);
    char *line = sg_verdict_log_line(&v, "factuur@example.nl", 2);
    /* The invoice has no Date and no Message-ID: those rules hit, and the
     * invoice words; together still below the tag threshold (3). */
    assert_true(v.score.total > 0 && v.score.total < 3);
    assert_true(strncmp(line,
                        "from=<factuur@example.nl> rcpts=2 origin=internal "
                        "from_domain=example.nl dkim=signed d=example.nl s=rsa2026,ed2026 score=",
                        strlen("from=<factuur@example.nl> rcpts=2 origin=internal "
                               "from_domain=example.nl dkim=signed d=example.nl "
                               "s=rsa2026,ed2026 score=")) == 0);
    assert_non_null(strstr(line, "no_date"));
    assert_non_null(strstr(line, " action=accept"));
    free(line);
    sg_verdict_clear(&v);
    assert_null(v.signatures);
}

/* test_spooled_to_disk - the same when the body is spooled to a file */
static void
test_spooled_to_disk(void **state)
{
    (void)state;
    struct fixture *f = make_runtime("16", "");
    struct sg_verdict v;
    run(f, invoice, SG_ORIGIN_AUTH, &v);
    check_signed(&v);
    sg_verdict_clear(&v);
    void *p = f;
    teardown(&p);
}

/* test_internal_failure - a failure after signing drops the signatures and
 * follows on_internal_error: tempfail by default, accept when configured */
static void
test_internal_failure(void **state)
{
    (void)state;
    static const struct {
        const char *extra;
        enum sg_action want;
    } rows[] = {
        {"", SG_ACTION_TEMPFAIL},
        {"on_internal_error = \"accept\"\n", SG_ACTION_ACCEPT},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct fixture *f = make_runtime("1M", rows[i].extra);
        struct sg_verdict v;
        run(f, invoice, SG_ORIGIN_INTERNAL, &v);
        assert_int_equal(v.nsignatures, 2);
        sg_verdict_fail(f->rt->cfg, &v, sg_xstrdup("disk full"));
        assert_int_equal(v.action, rows[i].want);
        assert_int_equal(v.nsignatures, 0);
        assert_null(v.signatures);
        char *line = sg_verdict_log_line(&v, "a@example.nl", 1);
        assert_non_null(strstr(line, "dkim=error reason=\"disk full\""));
        free(line);
        sg_verdict_clear(&v);
        void *p = f;
        teardown(&p);
    }
}

/* test_reject_and_tag_texts - a message over reject_at is not signed, and the
 * SMTP text names its heaviest reasons in one printable line; the tag value
 * names the score and rules */
static void
test_reject_and_tag_texts(void **state)
{
    (void)state;
    struct fixture *f = make_runtime("1M", "scoring { reject_at = 8 }\n");
    /* make_runtime already has a scoring block: the later value counts. */
    static const char phish[] =
        "From: \"facturen@bank.nl\" <accounts@example.nl>\r\n"
        "To: klant@example.com\r\n"
        "Subject: URGENT: factuur direct betalen\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
        "\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBetaal onmiddellijk.\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=\"factuur.pdf.exe\"\r\n\r\nMZ\r\n--b--\r\n";
    struct sg_verdict v;
    run(f, phish, SG_ORIGIN_INTERNAL, &v);
    assert_int_equal(v.action, SG_ACTION_REJECT);
    assert_int_equal(v.dkim, SG_DKIM_NOT_SENT);
    assert_int_equal(v.nsignatures, 0);
    char *text = sg_verdict_reject_text(&v);
    assert_true(strlen(text) < 400);
    for (const char *p = text; *p; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
    assert_non_null(strstr(text, "risky_attachment"));
    assert_non_null(strstr(text, "factuur.pdf.exe"));
    char *tag = sg_verdict_tag_value(&v);
    assert_true(strncmp(tag, "score=", 6) == 0);
    assert_non_null(strstr(tag, "rules=risky_attachment"));
    char *line = sg_verdict_log_line(&v, NULL, 1);
    assert_non_null(strstr(line, "dkim=unsigned reason=not-sent"));
    free(line);
    free(tag);
    free(text);
    sg_verdict_clear(&v);
    void *p = f;
    teardown(&p);
}

/* Messages that are not signed, and the reason logged for each. */
static const struct {
    const char *text;
    enum sg_origin origin;
    enum sg_dkim_outcome want;
    const char *reason;
} unsigned_rows[] = {
    {"From: a@example.nl\r\n\r\nhi\r\n", SG_ORIGIN_INBOUND, SG_DKIM_NOT_OUTGOING, "not-outgoing"},
    {"From: a@other.test\r\n\r\nhi\r\n", SG_ORIGIN_INTERNAL, SG_DKIM_NO_KEY, "no-key"},
    {"From: a@shop.example.nl\r\n\r\nhi\r\n", SG_ORIGIN_INTERNAL, SG_DKIM_NO_KEY, "no-key"},
    {"To: b@example.com\r\n\r\nhi\r\n", SG_ORIGIN_INTERNAL, SG_DKIM_NO_FROM, "no-from"},
    {"From: undisclosed\r\n\r\nhi\r\n", SG_ORIGIN_INTERNAL, SG_DKIM_NO_FROM, "no-from"},
    {"From: a@example.nl\r\nFrom: b@example.nl\r\n\r\nhi\r\n", SG_ORIGIN_INTERNAL,
     SG_DKIM_MULTIPLE_FROM, "multiple-from"},
    {"From: a@example.nl, b@example.nl\r\n\r\nhi\r\n", SG_ORIGIN_INTERNAL, SG_DKIM_MULTIPLE_FROM,
     "multiple-from"},
};

/* test_not_signed - each row is let through unsigned, with its reason */
static void
test_not_signed(void **state)
{
    for (size_t i = 0; i < SG_NELEM(unsigned_rows); i++) {
        struct sg_verdict v;
        run(*state, unsigned_rows[i].text, unsigned_rows[i].origin, &v);
        if (v.dkim != unsigned_rows[i].want)
            fail_msg("row %zu: %s, want %s", i, sg_dkim_outcome_name(v.dkim),
                     sg_dkim_outcome_name(unsigned_rows[i].want));
        assert_int_equal(v.nsignatures, 0);
        /* Let through (these bare test messages may score enough to be tagged). */
        assert_true(v.action == SG_ACTION_ACCEPT || v.action == SG_ACTION_TAG);
        char *line = sg_verdict_log_line(&v, NULL, 1);
        char *want = sg_xasprintf("dkim=unsigned reason=%s", unsigned_rows[i].reason);
        assert_non_null(strstr(line, want));
        free(want);
        free(line);
        sg_verdict_clear(&v);
    }
}

/* test_group_from - a group with one mailbox counts as one From address */
static void
test_group_from(void **state)
{
    struct sg_verdict v;
    run(*state, "From: Sales: Bob <bob@Example.NL>;\r\n\r\nhi\r\n", SG_ORIGIN_INTERNAL, &v);
    assert_int_equal(v.dkim, SG_DKIM_SIGNED);
    assert_string_equal(v.from_addr, "bob@Example.NL");
    assert_string_equal(v.from_domain, "example.nl");
    sg_verdict_clear(&v);
}

/* The DNS a receiver sees, for the alignment cases. */
static const char *const align_zone[] = {
    "example.nl TXT v=spf1 ip4:203.0.113.25 -all",
    "_dmarc.example.nl TXT v=DMARC1; p=reject",
    "mijnbakkerij.nl TXT v=spf1 ip4:192.0.2.99 -all",
    "_dmarc.mijnbakkerij.nl TXT v=DMARC1; p=reject",
    "laks.test TXT v=spf1 ip4:192.0.2.99 -all",
    "_dmarc.laks.test TXT v=DMARC1; p=none",
    "_dmarc.broken.test TEMPFAIL",
    "broken.test TEMPFAIL",
    "relay.test TXT v=spf1 ip4:203.0.113.25 -all",
    "_dmarc.relay.test TXT v=DMARC1; p=reject",
    "spf-fail.test TXT v=spf1 -all",
    "mail.example.nl TXT v=spf1 -all",
};

/* align_runtime - the default fixture with egress IP 203.0.113.25, the
 * given finding actions, and the test zone for DNS */
static struct fixture *
align_runtime(const char *actions)
{
    char *extra = sg_xasprintf("alignment {\n egress_ips = {\"203.0.113.25\"}\n"
                               " helo_name = \"mail.example.nl\"\n %s\n}\n",
                               actions);
    struct fixture *f = make_runtime("1M", extra);
    free(extra);
    sg_spf_free(&f->rt->spf); /* the resolver the runtime made: never queried here */
    f->rt->spf = tu_zone(align_zone, SG_NELEM(align_zone));
    return f;
}

/* rewrite_runtime - align_runtime with a key for relay.test and both
 * rewrites on, the envelope's to bounce (or, with key false, no key for
 * the relay domain: then the runtime must refuse the configuration) */
static struct fixture *
rewrite_runtime(const char *bounce, bool key, char **error_r)
{
    char *dir = tu_tempdir();
    char *pem = tu_key(dir, "relay.pem", SG_KEY_RSA);
    char *actions = sg_xasprintf("on_dmarc_fail = \"rewrite\"\n on_spf_fail = \"rewrite\"\n"
                                 " rewrite_from = \"relay@relay.test\"\n"
                                 " bounce_address = \"%s\"\n}\n"
                                 "domain \"%s\" { key \"r1\" { file = \"%s\" } \n",
                                 bounce, key ? "relay.test" : "other.test", pem);
    struct fixture *f = NULL;
    if (key) {
        f = align_runtime(actions);
    } else {
        /* As make_runtime, but the runtime is expected to fail. */
        char *extra = sg_xasprintf("alignment {\n egress_ips = {\"203.0.113.25\"}\n %s\n}\n",
                                   actions);
        char *text = sg_xasprintf("state_directory = \"%s\"\nscoring { rules = \"\" }\n%s", dir,
                                  extra);
        char *conf = tu_write(dir, "sg.conf", text, 0600);
        struct sg_config *cfg;
        struct sg_runtime *rt = NULL;
        assert_int_equal(sg_config_load(conf, NULL, 0, &cfg, error_r), SG_OK);
        assert_int_equal(sg_runtime_new(cfg, getuid(), &rt, error_r), SG_PERM);
        free(conf);
        free(text);
        free(extra);
    }
    tu_rmtree(dir);
    free(dir);
    free(pem);
    free(actions);
    return f;
}

/* align_msg - a plain invoice from addr */
static char *
align_msg(const char *from)
{
    return sg_xasprintf("From: Boekhouding <%s>\r\nTo: klant@example.com\r\n"
                        "Subject: Factuur 2026-0042\r\n"
                        "Date: Tue, 03 Mar 2026 10:15:00 +0100\r\n"
                        "Message-ID: <f42@example.nl>\r\n\r\nBijgaand de factuur.\r\n",
                        from);
}

/* run_from - the pipeline with an envelope sender */
static void
run_from(struct fixture *f, const char *text, const char *mail_from, struct sg_verdict *v)
{
    struct sg_msg *m = sg_msg_new(f->rt->cfg->spool_memory_limit, f->rt->cfg->spool_directory);
    char *error = NULL;
    assert_int_equal(sg_msg_parse(m, text, strlen(text), &error), SG_OK);
    sg_pipeline_run(f->rt, m, SG_ORIGIN_INTERNAL, mail_from, 0, SG_REWRITE_ALL, v);
    sg_msg_free(&m);
}

/* test_alignment - the cases: an aligned domain passes and is
 * signed; a domain whose SPF fails, that publishes p=reject and has no key
 * gets the configured action with a reply naming problem and fix; p=none
 * is only logged; a DNS failure follows on_dns_error; no egress IPs, no
 * prediction */
static void
test_alignment(void **state)
{
    (void)state;
    struct fixture *f = align_runtime("on_dmarc_fail = \"reject\"\n on_dns_error = \"tag\"");
    struct sg_verdict v;
    char *msg = align_msg("factuur@example.nl");
    run_from(f, msg, "factuur@example.nl", &v);
    free(msg);
    assert_true(v.align.checked);
    assert_int_equal(v.align.spf, SG_SPF_PASS);
    assert_int_equal(v.align.dmarc.result, SG_DMARC_RESULT_PASS);
    assert_int_equal(v.action, SG_ACTION_ACCEPT);
    assert_int_equal(v.dkim, SG_DKIM_SIGNED);
    char *line = sg_verdict_log_line(&v, "factuur@example.nl", 1);
    assert_non_null(strstr(line, " spf=pass spf_domain=example.nl dmarc=pass policy=reject "));
    free(line);
    sg_verdict_clear(&v);

    msg = align_msg("factuur@mijnbakkerij.nl");
    run_from(f, msg, "factuur@mijnbakkerij.nl", &v);
    free(msg);
    assert_int_equal(v.align.spf, SG_SPF_FAIL);
    assert_int_equal(v.align.dmarc.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(v.action, SG_ACTION_REJECT);
    assert_int_equal(v.dkim, SG_DKIM_NOT_SENT);
    char *text = sg_verdict_reject_text(&v);
    assert_non_null(strstr(text, "mijnbakkerij.nl publishes DMARC p=reject"));
    assert_non_null(strstr(text, "203.0.113.25"));
    assert_non_null(strstr(text, "add ip4:203.0.113.25 to the SPF record of mijnbakkerij.nl or "
                                 "configure a DKIM key for mijnbakkerij.nl"));
    free(text);
    sg_verdict_clear(&v);

    /* p=none: the receiver does nothing about it; logged, accepted. */
    msg = align_msg("factuur@laks.test");
    run_from(f, msg, "factuur@laks.test", &v);
    free(msg);
    assert_int_equal(v.align.dmarc.result, SG_DMARC_RESULT_FAIL);
    assert_int_equal(v.align.dmarc.policy, SG_DMARC_DISP_NONE);
    assert_int_equal(v.action, SG_ACTION_ACCEPT);
    sg_verdict_clear(&v);

    /* DNS down: on_dns_error (tag here), never a crash. */
    msg = align_msg("factuur@broken.test");
    run_from(f, msg, "factuur@broken.test", &v);
    free(msg);
    assert_int_equal(v.align.spf, SG_SPF_TEMPERROR);
    assert_int_equal(v.action, SG_ACTION_TAG);
    sg_verdict_clear(&v);
    teardown((void **)&f);

    /* The default: a DMARC failure with p=reject is held, not sent. */
    f = align_runtime("");
    msg = align_msg("factuur@mijnbakkerij.nl");
    run_from(f, msg, "factuur@mijnbakkerij.nl", &v);
    free(msg);
    assert_int_equal(v.action, SG_ACTION_QUARANTINE);
    sg_verdict_clear(&v);
    teardown((void **)&f);

    /* Not exactly one From address: a finding of its own (on_bad_from,
     * quarantine by default), with the reason in a rejection. */
    f = align_runtime("");
    static const char *const bad[] = {
        "From: a@example.nl, b@example.nl\r\nTo: k@example.com\r\nSubject: x\r\n\r\nhi\r\n",
        "From: a@example.nl\r\nFrom: b@example.nl\r\nTo: k@example.com\r\n\r\nhi\r\n",
        "From: undisclosed-senders:;\r\nTo: k@example.com\r\nSubject: x\r\n\r\nhi\r\n",
        "To: k@example.com\r\nSubject: x\r\n\r\nhi\r\n",
    };
    for (size_t i = 0; i < SG_NELEM(bad); i++) {
        run_from(f, bad[i], "factuur@example.nl", &v);
        assert_true(v.align.bad_from);
        assert_int_equal(v.action, SG_ACTION_QUARANTINE);
        assert_non_null(strstr(v.align.finding, i < 2 ? "more than one From address"
                                                       : "no (readable) From address"));
        sg_verdict_clear(&v);
    }
    teardown((void **)&f);
    f = align_runtime("on_bad_from = \"reject\"");
    run_from(f, bad[0], "factuur@example.nl", &v);
    assert_int_equal(v.action, SG_ACTION_REJECT);
    text = sg_verdict_reject_text(&v);
    assert_string_equal(text, "Not sent: the message has more than one From address: receivers "
                              "cannot check DMARC for it, and large ones (Gmail, Outlook) refuse "
                              "it; send it with exactly one address in one From field");
    free(text);
    sg_verdict_clear(&v);
    teardown((void **)&f);

    /* Without egress IPs nothing is predicted. */
    f = make_runtime("1M", "");
    assert_null(f->rt->spf);
    msg = align_msg("factuur@mijnbakkerij.nl");
    run_from(f, msg, "factuur@mijnbakkerij.nl", &v);
    free(msg);
    assert_false(v.align.checked);
    assert_int_equal(v.action, SG_ACTION_ACCEPT);
    sg_verdict_clear(&v);
    run_from(f, bad[0], "factuur@example.nl", &v);
    assert_false(v.align.bad_from);
    assert_null(v.align.finding);
    assert_true(v.action < SG_ACTION_QUARANTINE); /* the content rules may tag it */
    sg_verdict_clear(&v);
    teardown((void **)&f);
}

/* run_msg_as - the pipeline on text, released (0: not) and with what the
 * MTA lets sendguard rewrite; *out_r gets the message's header as it leaves
 * (name: value lines) */
static void
run_msg_as(struct fixture *f, const char *text, const char *mail_from, long long released,
           unsigned can_rewrite, struct sg_verdict *v, char **out_r)
{
    struct sg_msg *m = sg_msg_new(f->rt->cfg->spool_memory_limit, f->rt->cfg->spool_directory);
    char *error = NULL;
    assert_int_equal(sg_msg_parse(m, text, strlen(text), &error), SG_OK);
    sg_pipeline_run(f->rt, m, SG_ORIGIN_INTERNAL, mail_from, released, can_rewrite, v);
    char *out = sg_xstrdup("");
    for (size_t i = 0; i < sg_msg_header_count(m); i++) {
        char *more = sg_xasprintf("%s%s:%s\n", out, sg_msg_header_name(m, i),
                                  sg_msg_header_value(m, i));
        free(out);
        out = more;
    }
    *out_r = out;
    sg_msg_free(&m);
}

/* run_msg - run_msg_as, not released, everything may be rewritten */
static void
run_msg(struct fixture *f, const char *text, const char *mail_from, struct sg_verdict *v,
        char **out_r)
{
    run_msg_as(f, text, mail_from, 0, SG_REWRITE_ALL, v, out_r);
}

/* test_rewrite - on_dmarc_fail = rewrite: a From that would fail DMARC and
 * that sendguard cannot sign for becomes "Name via relay" <relay address>,
 * the original goes to Reply-To (unless there is one), and the message is
 * signed for the relay domain, the signature covering both; on_spf_fail =
 * rewrite: an envelope sender whose SPF fails becomes bounce_address, but
 * only when that one passes.  Aligned mail is left alone. */
static void
test_rewrite(void **state)
{
    (void)state;
    char *error = NULL;
    struct fixture *f = rewrite_runtime("bounces@relay.test", true, &error);
    struct sg_verdict v;
    char *hdr, *h, *line;

    char *msg = align_msg("factuur@mijnbakkerij.nl");
    run_msg(f, msg, "factuur@mijnbakkerij.nl", &v, &hdr);
    free(msg);
    assert_int_equal(v.action, SG_ACTION_REWRITE);
    assert_true(v.align.rewrite_from && v.align.rewrite_envelope);
    assert_int_equal(v.align.spf, SG_SPF_FAIL); /* as it came */
    assert_int_equal(v.dkim, SG_DKIM_SIGNED);
    assert_string_equal(v.d, "relay.test");
    assert_string_equal(v.new_from, " \"Boekhouding via relay.test\" <relay@relay.test>");
    assert_string_equal(v.reply_to, " Boekhouding <factuur@mijnbakkerij.nl>");
    assert_string_equal(v.new_mail_from, "bounces@relay.test");
    /* The message as signed carries the new From in place and the Reply-To. */
    assert_non_null(strstr(hdr, "To: klant@example.com\n"));
    assert_true(strncmp(hdr, "From: \"Boekhouding via relay.test\" <relay@relay.test>\n", 52) ==
                0);
    assert_non_null(strstr(hdr, "\nReply-To: Boekhouding <factuur@mijnbakkerij.nl>\n"));
    assert_null(strstr(hdr, "factuur@mijnbakkerij.nl>\nTo:"));
    h = tag(v.signatures[0], "h");
    assert_non_null(strcasestr(h, "from"));
    assert_non_null(strcasestr(h, "reply-to"));
    free(h);
    assert_non_null(strstr(v.align.finding, "From rewritten to relay@relay.test"));
    assert_non_null(strstr(v.align.finding, "envelope sender rewritten to bounces@relay.test"));
    line = sg_verdict_log_line(&v, "factuur@mijnbakkerij.nl", 1);
    assert_non_null(strstr(line, " from_domain=mijnbakkerij.nl dkim=signed d=relay.test "));
    assert_non_null(strstr(line, " spf=fail spf_domain=mijnbakkerij.nl dmarc=fail "
                                 "policy=reject rewrite=from,envelope "));
    assert_non_null(strstr(line, " action=rewrite"));
    free(line);
    free(hdr);
    sg_verdict_clear(&v);

    /* A failure after the From was rewritten (the MTA refused a header)
     * tempfails even with on_internal_error = accept: unsigned, a relay From
     * fails DMARC. */
    ((struct sg_config *)f->rt->cfg)->on_internal_error = SG_ON_ERROR_ACCEPT;
    msg = align_msg("factuur@mijnbakkerij.nl");
    run_msg(f, msg, "factuur@mijnbakkerij.nl", &v, &hdr);
    free(msg);
    free(hdr);
    sg_verdict_fail(f->rt->cfg, &v, sg_xstrdup("the MTA refused the DKIM-Signature header"));
    assert_int_equal(v.action, SG_ACTION_TEMPFAIL);
    sg_verdict_clear(&v);
    msg = align_msg("factuur@example.nl"); /* not rewritten: accept, as configured */
    run_msg(f, msg, "factuur@example.nl", &v, &hdr);
    free(msg);
    free(hdr);
    sg_verdict_fail(f->rt->cfg, &v, sg_xstrdup("the MTA refused the DKIM-Signature header"));
    assert_int_equal(v.action, SG_ACTION_ACCEPT);
    sg_verdict_clear(&v);
    ((struct sg_config *)f->rt->cfg)->on_internal_error = SG_ON_ERROR_TEMPFAIL;

    /* A Reply-To of its own is kept; a folded, non-ASCII name is encoded. */
    run_msg(f,
            "From: =?UTF-8?Q?B=C3=A4ckerei_M=C3=BCller?=\r\n <info@mijnbakkerij.nl>\r\n"
            "Reply-To: <debiteuren@mijnbakkerij.nl>\r\nTo: klant@example.com\r\n"
            "Subject: Rechnung\r\n\r\nAnbei die Rechnung.\r\n",
            "info@mijnbakkerij.nl", &v, &hdr);
    assert_int_equal(v.action, SG_ACTION_REWRITE);
    assert_null(v.reply_to);
    assert_non_null(strstr(hdr, "\nReply-To: <debiteuren@mijnbakkerij.nl>\n"));
    assert_null(strstr(strstr(hdr, "\nReply-To:") + 1, "\nReply-To:"));
    /* GMime picks the charset (ISO-8859-1 here); t/e2e decodes it with Python. */
    assert_non_null(strstr(v.new_from, "=?"));
    assert_non_null(strstr(v.new_from, "via relay.test"));
    assert_non_null(strstr(v.new_from, "<relay@relay.test>"));
    for (const char *p = v.new_from; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    char *addr = NULL;
    assert_int_equal(sg_mime_from(v.new_from, &addr), SG_FROM_ONE);
    assert_string_equal(addr, "relay@relay.test");
    free(addr);
    free(hdr);
    sg_verdict_clear(&v);

    /* Aligned: nothing rewritten. */
    msg = align_msg("factuur@example.nl");
    run_msg(f, msg, "factuur@example.nl", &v, &hdr);
    free(msg);
    assert_int_equal(v.action, SG_ACTION_ACCEPT);
    assert_null(v.new_from);
    assert_null(v.reply_to);
    assert_null(v.new_mail_from);
    assert_string_equal(v.d, "example.nl");
    line = sg_verdict_log_line(&v, "factuur@example.nl", 1);
    assert_null(strstr(line, "rewrite="));
    free(line);
    free(hdr);
    sg_verdict_clear(&v);

    /* The envelope alone: SPF of the envelope (another domain) fails, the
     * From address's passes: that becomes the envelope sender, aligned. */
    msg = align_msg("factuur@example.nl");
    run_msg(f, msg, "bounce@spf-fail.test", &v, &hdr);
    free(msg);
    assert_int_equal(v.action, SG_ACTION_REWRITE);
    assert_null(v.new_from);
    assert_string_equal(v.new_mail_from, "factuur@example.nl");
    assert_true(v.align.dmarc.spf_aligned);
    assert_string_equal(v.d, "example.nl");
    line = sg_verdict_log_line(&v, "bounce@spf-fail.test", 1);
    assert_non_null(strstr(line, " rewrite=envelope "));
    free(line);
    free(hdr);
    sg_verdict_clear(&v);

    /* p=none: the From stays (the receiver would deliver), the envelope is fixed. */
    msg = align_msg("factuur@laks.test");
    run_msg(f, msg, "factuur@laks.test", &v, &hdr);
    free(msg);
    assert_null(v.new_from);
    assert_string_equal(v.new_mail_from, "bounces@relay.test");
    assert_int_equal(v.dkim, SG_DKIM_NO_KEY);
    free(hdr);
    sg_verdict_clear(&v);
    teardown((void **)&f);

    /* Neither the From address nor a bounce address that pass SPF: no
     * envelope rewrite, and the finding says what was tried (the From is
     * still rewritten: DMARC would fail). */
    f = rewrite_runtime("bounces@spf-fail.test", true, &error);
    msg = align_msg("factuur@mijnbakkerij.nl");
    run_msg(f, msg, "bounce@laks.test", &v, &hdr);
    free(msg);
    assert_null(v.new_mail_from);
    assert_non_null(v.new_from);
    assert_non_null(strstr(v.align.finding, "laks.test does not authorise 203.0.113.25 (SPF "
                                            "fail), and no envelope sender to rewrite to passes: "
                                            "factuur@mijnbakkerij.nl (SPF fail from "
                                            "203.0.113.25), bounces@spf-fail.test (SPF fail from "
                                            "203.0.113.25); add ip4:203.0.113.25 to the SPF "
                                            "record of mijnbakkerij.nl"));
    free(hdr);
    sg_verdict_clear(&v);
    teardown((void **)&f);

    /* "FROM:" leaves as "From:" (the MTA writes the name it is given), and
     * the signed copy says so too: simple canonicalization hashes the name. */
    f = rewrite_runtime("bounces@relay.test", true, &error);
    run_msg(f,
            "FROM: Boekhouding <factuur@mijnbakkerij.nl>\r\nTo: klant@example.com\r\n"
            "Subject: Factuur\r\n\r\nBijgaand.\r\n",
            "factuur@mijnbakkerij.nl", &v, &hdr);
    assert_non_null(v.new_from);
    assert_true(strncmp(hdr, "From: \"Boekhouding via relay.test\" <", 36) == 0);
    free(hdr);
    sg_verdict_clear(&v);

    /* The null sender (a bounce, an auto-reply) keeps it, whatever its HELO's SPF. */
    msg = align_msg("factuur@example.nl");
    run_msg(f, msg, "", &v, &hdr);
    free(msg);
    assert_int_equal(v.align.spf, SG_SPF_FAIL);
    assert_string_equal(v.align.spf_domain, "mail.example.nl");
    assert_null(v.new_mail_from);
    assert_non_null(strstr(v.align.finding, "a bounce keeps its null sender"));
    free(hdr);
    sg_verdict_clear(&v);

    /* What the MTA does not allow is not planned: no envelope rewrite without
     * CHGFROM (the finding says how to allow it); without header changes a
     * From that would fail DMARC is held instead. */
    msg = align_msg("factuur@mijnbakkerij.nl");
    run_msg_as(f, msg, "factuur@mijnbakkerij.nl", 0, SG_REWRITE_FROM, &v, &hdr);
    assert_null(v.new_mail_from);
    assert_non_null(v.new_from);
    assert_non_null(strstr(v.align.finding, "milter_protocol = 6"));
    free(hdr);
    sg_verdict_clear(&v);
    run_msg_as(f, msg, "factuur@mijnbakkerij.nl", 0, SG_REWRITE_ENVELOPE, &v, &hdr);
    assert_null(v.new_from);
    assert_int_equal(v.action, SG_ACTION_QUARANTINE);
    free(hdr);
    sg_verdict_clear(&v);

    /* Released from the quarantine: still rewritten (and signed), never tagged. */
    char *spammy = sg_xasprintf("%s", "From: Boekhouding <factuur@mijnbakkerij.nl>\r\n"
                                      "To: klant@example.com\r\nSubject: URGENT!!! FACTUUR!!!\r\n"
                                      "\r\nBijgaand.\r\n");
    run_msg_as(f, spammy, "factuur@mijnbakkerij.nl", 7, SG_REWRITE_ALL, &v, &hdr);
    assert_int_equal(v.action, SG_ACTION_REWRITE);
    assert_non_null(v.new_from);
    assert_int_equal(v.dkim, SG_DKIM_SIGNED);
    assert_false(sg_verdict_tagged(f->rt->cfg, &v));
    free(hdr);
    sg_verdict_clear(&v);
    free(spammy);
    free(msg);
    teardown((void **)&f);

    /* No key for the relay domain: refused at start, with the fix. */
    error = NULL;
    assert_null(rewrite_runtime("bounces@relay.test", false, &error));
    assert_non_null(strstr(error, "no DKIM key for relay.test"));
    free(error);
}

/* test_missing_headers - Date and Message-ID are added when absent, before
 * signing (the signature covers them), and listed for the MTA; nothing is
 * added when they are there, or when add_missing_headers is off */
static void
test_missing_headers(void **state)
{
    (void)state;
    struct fixture *f = make_runtime("1M", "");
    struct sg_verdict v;
    run(f,
        "From: Boekhouding <factuur@example.nl>\r\nTo: klant@example.com\r\n"
        "Subject: Factuur 7\r\n\r\nBijgaand de factuur.\r\n",
        SG_ORIGIN_INTERNAL, &v);
    assert_int_equal(v.dkim, SG_DKIM_SIGNED);
    assert_int_equal(v.nadded, 2);
    assert_string_equal(v.added_names[0], "Date");
    assert_string_equal(v.added_names[1], "Message-ID");
    assert_true(v.added_values[0][0] == ' ' && strstr(v.added_values[0], " +0000") != NULL);
    assert_non_null(strstr(v.added_values[1], "@example.nl>"));
    /* Signed: h= names both (once each, plus the oversigned Date). */
    char *h = tag(v.signatures[0], "h");
    assert_non_null(strcasestr(h, "Date"));
    assert_non_null(strcasestr(h, "Message-ID"));
    free(h);
    sg_verdict_clear(&v);

    /* Present: nothing added. */
    run(f,
        "From: Boekhouding <factuur@example.nl>\r\nTo: klant@example.com\r\n"
        "Date: Mon, 23 Nov 2026 08:00:00 +0000\r\nMessage-ID: <x@example.nl>\r\n"
        "Subject: Factuur 8\r\n\r\nBijgaand de factuur.\r\n",
        SG_ORIGIN_INTERNAL, &v);
    assert_int_equal(v.nadded, 0);
    sg_verdict_clear(&v);
    teardown((void **)&f);

    /* Switched off. */
    f = make_runtime("1M", "add_missing_headers = false\n");
    run(f,
        "From: Boekhouding <factuur@example.nl>\r\nTo: klant@example.com\r\n"
        "Subject: Factuur 9\r\n\r\nBijgaand de factuur.\r\n",
        SG_ORIGIN_INTERNAL, &v);
    assert_int_equal(v.nadded, 0);
    assert_int_equal(v.dkim, SG_DKIM_SIGNED);
    sg_verdict_clear(&v);
    teardown((void **)&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signs_with_both_keys, setup, teardown),
        cmocka_unit_test(test_spooled_to_disk),
        cmocka_unit_test(test_internal_failure),
        cmocka_unit_test(test_reject_and_tag_texts),
        cmocka_unit_test_setup_teardown(test_not_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_from, setup, teardown),
        cmocka_unit_test(test_alignment),
        cmocka_unit_test(test_missing_headers),
        cmocka_unit_test(test_rewrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
