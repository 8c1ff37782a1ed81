/*
 * test_score.c - every rule of the scorer on hand-built content (no MIME
 * parsing here: test_mime covers that): each structural rule fires on its
 * case and stays quiet on the ordinary one, term lists match whole words or
 * prefixes with per-place weights, combinations need all their rules, hits
 * are sorted heaviest first and the total is their sum.  The rules file is
 * written by each test, so weights here are the test's own.
 */
#include "config.h"
#include "rules.h"
#include "score.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

/* The structural rules with weight 1 each, two term lists and a combination. */
static const char rules_text[] =
    "terms \"invoice\" { explain = \"invoice words\" match = \"prefix\" subject = 0.5 body = 0.25 "
    "attachment = 0.125 words = {\"factuur\", \"invoice\"} }\n"
    "terms \"urgency\" { explain = \"urgent words\" match = \"word\" subject = 2 body = 1 "
    "words = {\"urgent\", \"direct betalen\"} }\n"
    "combo \"invoice_urgency\" { all = {\"invoice\", \"urgency\"} weight = 4 explain = \"both\" }\n"
    "shorteners = {\"bit.ly\"}\n"
    "risky_extensions = {\"exe\", \"js\"}\n"
    "macro_extensions = {\"xlsm\"}\n"
    "many_recipients = 3\n"
    "date_skew_hours = 48\n";

static struct sg_rules *rules;
static char *dir;

/* setup - write the rules (every structural rule with weight 1) and compile them */
static int
setup(void **state)
{
    (void)state;
    dir = tu_tempdir();
    size_t len = sizeof(rules_text) + sg_structural_rules_count * 80;
    char *text = sg_xcalloc(1, len);
    strcpy(text, rules_text);
    for (size_t i = 0; i < sg_structural_rules_count; i++) {
        char *line = sg_xasprintf("rule \"%s\" { weight = 1 explain = \"why %s\" }\n",
                                  sg_structural_rules[i], sg_structural_rules[i]);
        strcat(text, line);
        free(line);
    }
    char *path = tu_write(dir, "rules.conf", text, 0644);
    struct sg_rules_spec *spec;
    char *error = NULL;
    if (sg_config_load_rules(path, &spec, &error) != SG_OK ||
        sg_rules_compile(spec, &rules, &error) != SG_OK)
        fail_msg("%s", error);
    free(text);
    free(path);
    return 0;
}

/* teardown - free rules and files */
static int
teardown(void **state)
{
    (void)state;
    sg_rules_free(&rules);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

#define NOW 1790000000LL

/* ordinary - content of an ordinary invoice mail that fires no structural rule */
static struct sg_content *
ordinary(void)
{
    struct sg_content *c = sg_xcalloc(1, sizeof(*c));
    c->subject = sg_xstrdup("Uw bestelling 42");
    c->from_display = sg_xstrdup("Bakkerij");
    c->from_addr = sg_xstrdup("info@bakkerij.nl");
    c->n_visible_rcpts = 1;
    c->has_date = c->has_message_id = true;
    c->date = NOW - 3600;
    c->nparts = 1;
    c->parts = sg_xcalloc(1, sizeof(*c->parts));
    c->parts[0].kind = SG_PART_PLAIN;
    c->parts[0].text = sg_xstrdup("Beste klant, hierbij de bevestiging van uw bestelling.");
    c->parts[0].text_len = strlen(c->parts[0].text);
    return c;
}

/* add_link - one link */
static void
add_link(struct sg_content *c, const char *text, const char *href)
{
    c->links = sg_xrealloc(c->links, (c->nlinks + 1) * sizeof(*c->links));
    c->links[c->nlinks].text = sg_xstrdup(text);
    c->links[c->nlinks].href = sg_xstrdup(href);
    c->nlinks++;
}

/* add_attachment - one attachment */
static void
add_attachment(struct sg_content *c, const char *name, const char *type, bool encrypted)
{
    c->attachments = sg_xrealloc(c->attachments, (c->nattachments + 1) * sizeof(*c->attachments));
    c->attachments[c->nattachments] =
        (struct sg_attachment){sg_xstrdup(name), sg_xstrdup(type), 1234, encrypted};
    c->nattachments++;
}

/* set_text - replace the text of part 0 (and its kind) */
static void
set_text(struct sg_content *c, enum sg_part_kind kind, const char *text)
{
    free(c->parts[0].text);
    c->parts[0].kind = kind;
    c->parts[0].text = sg_xstrdup(text);
    c->parts[0].text_len = strlen(text);
}

/* find - the hit of a rule at a place (NULL: any place), or NULL */
static const struct sg_hit *
find(const struct sg_score *s, const char *rule, const char *where)
{
    for (size_t i = 0; i < s->nhits; i++)
        if (strcmp(s->hits[i].rule, rule) == 0 &&
            (where == NULL || !strcmp(s->hits[i].where, where)))
            return &s->hits[i];
    return NULL;
}

/* One case per structural rule: how to change the ordinary mail so that it fires. */
static void
c_html_no_text(struct sg_content *c)
{
    set_text(c, SG_PART_HTML, "Beste klant, hierbij de bevestiging van uw bestelling.");
}
static void
c_image_only(struct sg_content *c)
{
    set_text(c, SG_PART_HTML, "Klik");
    c->n_images = 2;
}
static void
c_empty_body(struct sg_content *c)
{
    set_text(c, SG_PART_PLAIN, " \n ");
}
static void
c_link_mismatch(struct sg_content *c)
{
    add_link(c, "https://www.mijnbank.nl/inloggen", "https://evil.example/x");
}
static void
c_url_shortener(struct sg_content *c)
{
    add_link(c, "Betaal hier", "https://bit.ly/abc");
}
static void
c_ip_link(struct sg_content *c)
{
    add_link(c, "Betaal hier", "http://198.51.100.7/pay");
}
static void
c_risky_attachment(struct sg_content *c)
{
    add_attachment(c, "setup.EXE", "application/octet-stream", false);
}
static void
c_macro_attachment(struct sg_content *c)
{
    add_attachment(c, "overzicht.xlsm", "application/vnd.ms-excel.sheet.macroenabled.12", false);
}
static void
c_double_extension(struct sg_content *c)
{
    add_attachment(c, "factuur.pdf.exe", "application/octet-stream", false);
}
static void
c_encrypted_archive(struct sg_content *c)
{
    add_attachment(c, "stukken.zip", "application/zip", true);
}
static void
c_no_date(struct sg_content *c)
{
    c->has_date = false;
}
static void
c_no_message_id(struct sg_content *c)
{
    c->has_message_id = false;
}
static void
c_date_off(struct sg_content *c)
{
    c->date = NOW - 72 * 3600;
}
static void
c_display_name_address(struct sg_content *c)
{
    free(c->from_display);
    c->from_display = sg_xstrdup("betalingen@mijnbank.nl");
}
static void
c_reply_to_mismatch(struct sg_content *c)
{
    c->reply_to_addr = sg_xstrdup("boekhouding@elders.example");
}
static void
c_subject_shouting(struct sg_content *c)
{
    free(c->subject);
    c->subject = sg_xstrdup("LAATSTE KANS BESTELLING");
}
static void
c_empty_subject(struct sg_content *c)
{
    free(c->subject);
    c->subject = NULL;
}
static void
c_many_recipients(struct sg_content *c)
{
    c->n_visible_rcpts = 4;
}
static void
c_malformed_mime(struct sg_content *c)
{
    c->nmalformations = 1;
    c->malformations = sg_xcalloc(1, sizeof(*c->malformations));
    c->malformations[0].what = sg_xstrdup("multipart without boundary");
}

static const struct {
    const char *rule;
    void (*make)(struct sg_content *c);
    const char *snippet; /* must occur in the hit's snippet */
} cases[] = {
    {"html_no_text", c_html_no_text, "text/html"},
    {"image_only", c_image_only, "2 image(s)"},
    {"empty_body", c_empty_body, "no text"},
    {"link_mismatch", c_link_mismatch, "evil.example"},
    {"url_shortener", c_url_shortener, "bit.ly"},
    {"ip_link", c_ip_link, "198.51.100.7"},
    {"risky_attachment", c_risky_attachment, "setup.EXE"},
    {"macro_attachment", c_macro_attachment, "overzicht.xlsm"},
    {"double_extension", c_double_extension, "factuur.pdf.exe"},
    {"encrypted_archive", c_encrypted_archive, "stukken.zip"},
    {"no_date", c_no_date, "Date"},
    {"no_message_id", c_no_message_id, "Message-ID"},
    {"date_off", c_date_off, "72 hours"},
    {"display_name_address", c_display_name_address, "mijnbank.nl"},
    {"reply_to_mismatch", c_reply_to_mismatch, "elders.example"},
    {"subject_shouting", c_subject_shouting, "LAATSTE"},
    {"empty_subject", c_empty_subject, ""},
    {"many_recipients", c_many_recipients, "4 addresses"},
    {"malformed_mime", c_malformed_mime, "without boundary"},
};

/* test_ordinary_is_quiet - the ordinary mail fires nothing */
static void
test_ordinary_is_quiet(void **state)
{
    (void)state;
    struct sg_content *c = ordinary();
    struct sg_score s;
    sg_score_content(rules, c, NOW, &s);
    if (s.nhits != 0)
        fail_msg("ordinary mail hit %s", s.hits[0].rule);
    assert_true(s.total == 0.0);
    sg_score_clear(&s);
    sg_content_free(&c);
}

/* test_each_structural_rule - each case fires its rule (with explanation and snippet) */
static void
test_each_structural_rule(void **state)
{
    (void)state;
    assert_int_equal(SG_NELEM(cases), sg_structural_rules_count);
    for (size_t i = 0; i < SG_NELEM(cases); i++) {
        struct sg_content *c = ordinary();
        cases[i].make(c);
        struct sg_score s;
        sg_score_content(rules, c, NOW, &s);
        const struct sg_hit *h = find(&s, cases[i].rule, NULL);
        if (h == NULL)
            fail_msg("%s did not fire", cases[i].rule);
        assert_true(h->weight == 1.0);
        char *why = sg_xasprintf("why %s", cases[i].rule);
        assert_string_equal(h->explain, why);
        free(why);
        if (strstr(h->snippet, cases[i].snippet) == NULL)
            fail_msg("%s: snippet \"%s\" lacks \"%s\"", cases[i].rule, h->snippet,
                     cases[i].snippet);
        sg_score_clear(&s);
        sg_content_free(&c);
    }
}

/* test_near_misses - what must NOT fire */
static void
test_near_misses(void **state)
{
    (void)state;
    static const struct {
        const char *rule;
        const char *link_text, *href; /* a link, or NULL */
        const char *attachment;       /* an attachment name, or NULL */
    } rows[] = {
        /* link text showing the same organisation, or no domain at all */
        {"link_mismatch", "https://www.bakkerij.nl/betalen", "https://pay.bakkerij.nl/x", NULL},
        {"link_mismatch", "factuur-2026-0108.pdf", "https://files.example/f.pdf", NULL},
        {"link_mismatch", "Klik hier", "https://evil.example/", NULL},
        {"ip_link", "x", "https://bakkerij.nl/v1.2.3", NULL},
        {"ip_link", "x", "http://x/", NULL},
        {"ip_link", "x", "http://2024.example/", NULL},
        /* a trailing dot or space does not hide an extension; an ordinary name is fine */
        {"risky_attachment", NULL, NULL, "factuur.pdf"},
        {"double_extension", NULL, NULL, "setup.v2.exe"},
        {"double_extension", NULL, NULL, "factuur.pdf"},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct sg_content *c = ordinary();
        if (rows[i].href)
            add_link(c, rows[i].link_text, rows[i].href);
        if (rows[i].attachment)
            add_attachment(c, rows[i].attachment, "application/pdf", false);
        struct sg_score s;
        sg_score_content(rules, c, NOW, &s);
        if (find(&s, rows[i].rule, NULL) != NULL)
            fail_msg("row %zu: %s fired", i, rows[i].rule);
        sg_score_clear(&s);
        sg_content_free(&c);
    }
    /* Numeric hosts in the forms browsers accept are bare IPs too. */
    static const char *const numeric[] = {"http://3325256711/", "http://0xc6.0x33.100.7/x",
                                          "http://[2001:db8::1]/"};
    for (size_t i = 0; i < SG_NELEM(numeric); i++) {
        struct sg_content *n = ordinary();
        add_link(n, "Betaal", numeric[i]);
        struct sg_score ns;
        sg_score_content(rules, n, NOW, &ns);
        if (find(&ns, "ip_link", NULL) == NULL)
            fail_msg("%s is not taken for an IP address", numeric[i]);
        sg_score_clear(&ns);
        sg_content_free(&n);
    }

    /* "factuur.pdf.exe. " is still an executable (Windows drops trailing dots and spaces). */
    struct sg_content *c = ordinary();
    add_attachment(c, "factuur.pdf.exe. ", "application/octet-stream", false);
    struct sg_score s;
    sg_score_content(rules, c, NOW, &s);
    assert_non_null(find(&s, "risky_attachment", NULL));
    assert_non_null(find(&s, "double_extension", NULL));
    sg_score_clear(&s);
    sg_content_free(&c);
}

/* test_terms_and_combo - places, prefix vs word, folding, once per place, combination, order */
static void
test_terms_and_combo(void **state)
{
    (void)state;
    struct sg_content *c = ordinary();
    free(c->subject);
    c->subject = sg_xstrdup("FACTÚURnummer 42: Urgent"); /* prefix + accent + case */
    set_text(c, SG_PART_PLAIN,
             "Factuur bijgevoegd. Nog een factuur. Urgentie is geen woord uit de lijst.");
    add_attachment(c, "Invoice-42.pdf", "application/pdf", false);
    struct sg_score s;
    sg_score_content(rules, c, NOW, &s);
    const struct sg_hit *h;
    assert_non_null(h = find(&s, "invoice", "subject"));
    assert_true(h->weight == 0.5);
    assert_non_null(strstr(h->snippet, "FACTÚURnummer"));
    assert_non_null(h = find(&s, "invoice", "body"));
    assert_true(h->weight == 0.25);
    assert_non_null(h = find(&s, "invoice", "attachment"));
    assert_true(h->weight == 0.125);
    /* "urgent" is a whole-word term: the subject has it, "Urgentie" in the body is no match. */
    assert_non_null(find(&s, "urgency", "subject"));
    assert_null(find(&s, "urgency", "body"));
    assert_non_null(h = find(&s, "invoice_urgency", NULL));
    assert_true(h->weight == 4.0);
    /* Each list once per place: 0.5 + 0.25 + 0.125 + 2 + 4 */
    assert_int_equal(s.nhits, 5);
    assert_true(s.total == 6.875);
    for (size_t i = 1; i < s.nhits; i++)
        assert_true(s.hits[i - 1].weight >= s.hits[i].weight);
    sg_score_clear(&s);

    /* Without urgency the combination stays quiet. */
    free(c->subject);
    c->subject = sg_xstrdup("Factuur 42");
    sg_score_content(rules, c, NOW, &s);
    assert_null(find(&s, "invoice_urgency", NULL));
    assert_null(find(&s, "urgency", NULL));
    sg_score_clear(&s);
    sg_content_free(&c);
}

/* Rules files that must be refused, with the line and the reason. */
static const struct {
    const char *text;
    const char *says;
} bad_rules[] = {
    {"rule \"no_such_rule\" { weight = 1 explain = \"x\" }\n", ":1: rule \"no_such_rule\" is not"},
    {"rule \"no_date\" { weight = 1 }\n", "has no explain"},
    {"terms \"t\" { explain = \"x\" }\n", "has no words"},
    {"terms \"t\" { explain = \"x\" match = \"fuzzy\" words = {\"a\"} }\n", "use \"word\" or"},
    {"\n\ncombo \"c\" { all = {\"a\"} weight = 1 explain = \"x\" }\n", ":3: combo \"c\" needs"},
    {"combo \"c\" { all = {\"a\", \"b\"} weight = 1 explain = \"x\" }\n", "names \"a\", which is"},
};

/* test_bad_rules_files - each refused with a message that says why */
static void
test_bad_rules_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(bad_rules); i++) {
        char *path = tu_write(dir, "bad.conf", bad_rules[i].text, 0644);
        struct sg_rules_spec *spec = NULL;
        struct sg_rules *r = NULL;
        char *error = NULL;
        enum sg_rc rc = sg_config_load_rules(path, &spec, &error);
        if (rc == SG_OK)
            rc = sg_rules_compile(spec, &r, &error);
        if (rc == SG_OK)
            fail_msg("row %zu accepted", i);
        if (strstr(error, bad_rules[i].says) == NULL)
            fail_msg("row %zu: \"%s\" lacks \"%s\"", i, error, bad_rules[i].says);
        free(error);
        free(path);
    }
}

/* test_shipped_rules - etc/rules.conf loads, compiles and names every structural rule */
static void
test_shipped_rules(void **state)
{
    (void)state;
    char *path = tu_source("etc/rules.conf");
    struct sg_rules_spec *spec;
    struct sg_rules *r;
    char *error = NULL;
    assert_int_equal(sg_config_load_rules(path, &spec, &error), SG_OK);
    assert_int_equal(sg_rules_compile(spec, &r, &error), SG_OK);
    for (size_t i = 0; i < sg_structural_rules_count; i++) {
        const char *explain;
        double w = sg_rules_weight(r, sg_structural_rules[i], &explain);
        if (explain == NULL || w <= 0)
            fail_msg("the shipped rules do not weigh %s", sg_structural_rules[i]);
    }
    sg_rules_free(&r);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordinary_is_quiet), cmocka_unit_test(test_each_structural_rule),
        cmocka_unit_test(test_near_misses),       cmocka_unit_test(test_terms_and_combo),
        cmocka_unit_test(test_bad_rules_files),   cmocka_unit_test(test_shipped_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
