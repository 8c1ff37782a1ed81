/*
 * test_quarantine.c - turning a held message into a quarantine row: the raw
 * bytes are every field as "Name:value" with its folds made CRLF, a blank
 * line and the body unchanged (also when the body was spooled to disk); the
 * envelope, From, Subject, score, top rule, verdict JSON and state are
 * filled; the fingerprint ignores what an MTA retry changes (Received, queue
 * id) and nothing else; an unreadable spool is SG_TEMP.  Release tokens are
 * 64 fresh hex digits, and the release message puts the token header first
 * with the line ends asked for.
 */
#include "quarantine.h"
#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The parts of a test message that the fingerprint cases vary. */
struct parts {
    const char *received; /* value of the MTA's own Received field */
    const char *queue_id;
    const char *env_from;
    const char *rcpts[2];
    const char *subject; /* value of the Subject field */
    const char *body;
    size_t body_len; /* 0: strlen(body) */
};

/* A body with a leading dot, 8-bit bytes, a NUL and a bare LF: all kept as is. */
static const char body_text[] = "Beste klant,\r\n"
                                "\r\n"
                                ".punt aan het begin\r\n"
                                "Betaal \xc3\xa9\xc3\xa9n factuur\r\n"
                                "nul\0byte en kale\nLF\r\n";

/* base_parts - the message every case starts from */
static struct parts
base_parts(void)
{
    struct parts p = {
        .received = " from mx.example.org (mx.example.org [192.0.2.7])\n"
                    "\tby mail.example.nl (Postfix) with ESMTP id 4XyZ1abc\n"
                    "\tfor <klant@example.nl>; Mon, 2 Mar 2026 10:00:00 +0100",
        .queue_id = "4XyZ1abc",
        .env_from = "bounce@example.org",
        .rcpts = {"klant@example.nl", "boekhouding@example.nl"},
        .subject = " URGENT:\n factuur",
        .body = body_text,
        .body_len = sizeof(body_text) - 1,
    };
    return p;
}

/* The header fields of base_parts, in order, as sg_msg_add_header gets them. */
static const char from_value[] = " \"Boekhouding\" <factuur@example.nl>";

/* build - a message from parts; the body goes in three pieces */
static struct sg_msg *
build(const struct parts *p, size_t mem_limit, const char *dir)
{
    struct sg_msg *msg = sg_msg_new(mem_limit, dir);
    char *error = NULL;
    sg_msg_add_header(msg, "Received", p->received);
    sg_msg_add_header(msg, "From", from_value);
    sg_msg_add_header(msg, "To", " klant@example.nl");
    sg_msg_add_header(msg, "Subject", p->subject);
    sg_msg_add_header(msg, "X-Empty", "");
    sg_msg_add_header(msg, "X-Folded-CRLF", " a\r\n\tb");
    size_t len = p->body_len ? p->body_len : strlen(p->body);
    size_t third = len / 3;
    const size_t cuts[] = {0, third, 2 * third, len};
    for (size_t i = 0; i + 1 < SG_NELEM(cuts); i++)
        if (sg_msg_add_body(msg, p->body + cuts[i], cuts[i + 1] - cuts[i], &error) != SG_OK)
            fail_msg("add_body: %s", error);
    return msg;
}

/* The raw bytes build(base_parts()) must give. */
static const char expected_head[] = "Received: from mx.example.org (mx.example.org [192.0.2.7])\r\n"
                                    "\tby mail.example.nl (Postfix) with ESMTP id 4XyZ1abc\r\n"
                                    "\tfor <klant@example.nl>; Mon, 2 Mar 2026 10:00:00 +0100\r\n"
                                    "From: \"Boekhouding\" <factuur@example.nl>\r\n"
                                    "To: klant@example.nl\r\n"
                                    "Subject: URGENT:\r\n"
                                    " factuur\r\n"
                                    "X-Empty:\r\n"
                                    "X-Folded-CRLF: a\r\n"
                                    "\tb\r\n"
                                    "\r\n";

/* expected_raw - expected_head followed by the body (caller frees; length in *len_r) */
static char *
expected_raw(size_t *len_r)
{
    size_t hl = sizeof(expected_head) - 1, bl = sizeof(body_text) - 1;
    char *raw = sg_xmalloc(hl + bl);
    memcpy(raw, expected_head, hl);
    memcpy(raw + hl, body_text, bl);
    *len_r = hl + bl;
    return raw;
}

/* verdict_with - a quarantine verdict with the given hits (weights heaviest first) */
static void
verdict_with(struct sg_verdict *v, const double *weights, const char *const *rules, size_t n)
{
    memset(v, 0, sizeof(*v));
    v->action = SG_ACTION_QUARANTINE;
    v->subject = sg_xstrdup("URGENT: factuur");
    v->score.hits = sg_xcalloc(n + 1, sizeof(*v->score.hits));
    v->score.nhits = n;
    for (size_t i = 0; i < n; i++) {
        v->score.hits[i].rule = rules[i];
        v->score.hits[i].explain = "explanation for the admin";
        v->score.hits[i].weight = weights[i];
        v->score.hits[i].where = "subject";
        v->score.hits[i].snippet = sg_xstrdup("URGENT");
        v->score.total += weights[i];
    }
}

/* record_ok - sg_quarantine_record or fail the test; the raw bytes, which
 * the record only offers through raw_read (as the store reads them), are
 * read into q->raw in pieces of an odd size, so that the test compares bytes */
static void
record_ok(struct sg_msg *msg, const struct sg_verdict *v, const struct parts *p, time_t now,
          struct sg_quarantined *q)
{
    struct sg_envelope env = {
        .queue_id = p->queue_id,
        .client_addr = "192.0.2.7",
        .env_from = p->env_from,
        .rcpts = (char *const *)p->rcpts,
        .nrcpts = 2,
    };
    char *error = NULL;
    if (sg_quarantine_record(msg, v, &env, now, q, &error) != SG_OK)
        fail_msg("record: %s", error);
    assert_null(q->raw); /* never a copy of the whole message */
    assert_non_null(q->raw_read);
    q->raw = sg_xmalloc(q->raw_len + 1);
    for (size_t off = 0; off < q->raw_len; off += 7777) {
        size_t n = q->raw_len - off < 7777 ? q->raw_len - off : 7777;
        assert_true(q->raw_read(q->raw_arg, off, q->raw + off, n));
    }
    /* Past the end is an error, not garbage. */
    unsigned char extra;
    assert_false(q->raw_read(q->raw_arg, q->raw_len, &extra, 1));
}

/* test_record_fields - exact raw bytes, and every other field of the row */
static void
test_record_fields(void **state)
{
    (void)state;
    struct parts p = base_parts();
    struct sg_msg *msg = build(&p, 1 << 20, "/tmp");
    static const double weights[] = {6.0, 3.5, -1.0};
    static const char *const rules[] = {"urgency", "payment-request", "known-sender"};
    struct sg_verdict v;
    verdict_with(&v, weights, rules, 3);
    struct sg_quarantined q;
    record_ok(msg, &v, &p, 1772442000, &q);

    size_t want_len;
    char *want = expected_raw(&want_len);
    assert_int_equal(q.raw_len, want_len);
    assert_memory_equal(q.raw, want, want_len);
    free(want);

    assert_int_equal(q.time, 1772442000);
    assert_string_equal(q.queue_id, "4XyZ1abc");
    assert_string_equal(q.client_addr, "192.0.2.7");
    assert_string_equal(q.env_from, "bounce@example.org");
    assert_int_equal(q.nrcpts, 2);
    assert_string_equal(q.rcpts[0], "klant@example.nl");
    assert_string_equal(q.rcpts[1], "boekhouding@example.nl");
    /* Copies, not borrowed pointers: the milter frees its envelope at once. */
    assert_ptr_not_equal(q.env_from, p.env_from);
    assert_ptr_not_equal(q.rcpts[0], p.rcpts[0]);
    assert_string_equal(q.from_header, "\"Boekhouding\" <factuur@example.nl>");
    assert_string_equal(q.subject, "URGENT: factuur");
    assert_true(q.score == 8.5);
    assert_string_equal(q.reason, "urgency");
    assert_string_equal(q.state, "held");
    assert_non_null(q.fingerprint);
    assert_true(strlen(q.fingerprint) > 0);

    json_error_t jerr;
    json_t *j = json_loads(q.verdict_json, 0, &jerr);
    if (j == NULL)
        fail_msg("verdict_json is not JSON (%s): %s", jerr.text, q.verdict_json);
    assert_string_equal(json_string_value(json_object_get(j, "action")), "quarantine");
    assert_true(json_number_value(json_object_get(j, "score")) == 8.5);
    json_t *hits = json_object_get(j, "hits");
    assert_int_equal(json_array_size(hits), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(hits, 0), "rule")),
                        "urgency");
    json_decref(j);

    sg_quarantine_record_clear(&q);
    assert_null(q.raw);
    assert_null(q.fingerprint);
    sg_verdict_clear(&v);
    sg_msg_free(&msg);
}

/* test_record_reason - no hits, or only negative ones, give no reason; a
 * folded From is one line; no From gives NULL; no subject in the verdict gives NULL */
static void
test_record_reason(void **state)
{
    (void)state;
    struct parts p = base_parts();
    static const double negative[] = {-2.0};
    static const char *const rules[] = {"known-sender"};
    struct sg_verdict v;
    struct sg_quarantined q;

    struct sg_msg *msg = build(&p, 1 << 20, "/tmp");
    verdict_with(&v, NULL, NULL, 0);
    record_ok(msg, &v, &p, 1, &q);
    assert_null(q.reason);
    sg_quarantine_record_clear(&q);
    sg_verdict_clear(&v);

    verdict_with(&v, negative, rules, 1);
    record_ok(msg, &v, &p, 1, &q);
    assert_null(q.reason);
    sg_quarantine_record_clear(&q);
    sg_verdict_clear(&v);
    sg_msg_free(&msg);

    /* From folded the way Postfix passes it (LF only), plus a CRLF fold. */
    msg = sg_msg_new(1 << 20, "/tmp");
    sg_msg_add_header(msg, "Subject", " x");
    sg_msg_add_header(msg, "from", " \"Boekhouding\n\tAfdeling\"\r\n <factuur@example.nl>");
    verdict_with(&v, NULL, NULL, 0);
    free(v.subject);
    v.subject = NULL;
    record_ok(msg, &v, &p, 1, &q);
    assert_non_null(q.from_header);
    assert_null(strpbrk(q.from_header, "\r\n"));
    assert_int_equal(strncmp(q.from_header, "\"Boekhouding", 12), 0);
    assert_non_null(strstr(q.from_header, "Afdeling\""));
    size_t fl = strlen(q.from_header);
    assert_true(fl > 20);
    assert_string_equal(q.from_header + fl - 20, "<factuur@example.nl>");
    assert_null(q.subject);
    /* No body at all: the raw is the fields and the blank line. */
    static const char head[] = "Subject: x\r\n"
                               "from: \"Boekhouding\r\n\tAfdeling\"\r\n <factuur@example.nl>\r\n"
                               "\r\n";
    assert_int_equal(q.raw_len, sizeof(head) - 1);
    assert_memory_equal(q.raw, head, sizeof(head) - 1);
    sg_quarantine_record_clear(&q);
    sg_msg_free(&msg);

    msg = sg_msg_new(1 << 20, "/tmp");
    sg_msg_add_header(msg, "Subject", " no sender");
    record_ok(msg, &v, &p, 1, &q);
    assert_null(q.from_header);
    sg_quarantine_record_clear(&q);
    sg_verdict_clear(&v);
    sg_msg_free(&msg);
}

/* fingerprint_of - the fingerprint build(p) gets (caller frees) */
static char *
fingerprint_of(const struct parts *p)
{
    struct sg_msg *msg = build(p, 1 << 20, "/tmp");
    struct sg_verdict v;
    verdict_with(&v, NULL, NULL, 0);
    struct sg_quarantined q;
    record_ok(msg, &v, p, 1, &q);
    char *fp = sg_xstrdup(q.fingerprint);
    sg_quarantine_record_clear(&q);
    sg_verdict_clear(&v);
    sg_msg_free(&msg);
    return fp;
}

/* test_fingerprint - an MTA retry (new Received, new queue id) is the same
 * message; any other change to envelope, fields or body is another */
static void
test_fingerprint(void **state)
{
    (void)state;
    struct parts base = base_parts();
    char *fp0 = fingerprint_of(&base);

    struct parts retry = base;
    retry.received = " from mx.example.org (mx.example.org [192.0.2.7])\n"
                     "\tby mail.example.nl (Postfix) with ESMTP id 4AbC9xyz\n"
                     "\tfor <klant@example.nl>; Mon, 2 Mar 2026 10:05:00 +0100";
    retry.queue_id = "4AbC9xyz";
    char *fp = fingerprint_of(&retry);
    assert_string_equal(fp, fp0);
    free(fp);

    static const char other_body[] = "Beste klant,\r\n"
                                     "\r\n"
                                     ".punt aan het begin\r\n"
                                     "Betaal \xc3\xa9\xc3\xa9n factuur\r\n"
                                     "nul\0byte en kale\nLX\r\n";
    struct {
        const char *what;
        struct parts p;
    } differ[] = {
        {"body", base},        {"recipient", base}, {"env_from", base},
        {"null sender", base}, {"Subject", base},   {"recipient split", base},
    };
    differ[0].p.body = other_body;
    differ[0].p.body_len = sizeof(other_body) - 1;
    differ[1].p.rcpts[1] = "directie@example.nl";
    differ[2].p.env_from = "other@example.org";
    differ[3].p.env_from = "";
    differ[4].p.subject = " URGENT:\n factuur!";
    /* The same characters split differently over the recipients. */
    differ[5].p.rcpts[0] = "klant@example.nlb";
    differ[5].p.rcpts[1] = "oekhouding@example.nl";
    for (size_t i = 0; i < SG_NELEM(differ); i++) {
        fp = fingerprint_of(&differ[i].p);
        if (strcmp(fp, fp0) == 0)
            fail_msg("a different %s gives the same fingerprint %s", differ[i].what, fp);
        free(fp);
    }
    free(fp0);
}

/* test_spooled_body - a body moved to disk gives the same raw and fingerprint */
static void
test_spooled_body(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    struct parts p = base_parts();
    struct sg_verdict v;
    verdict_with(&v, NULL, NULL, 0);

    struct sg_msg *mem = build(&p, 1 << 20, "/tmp");
    struct sg_msg *disk = build(&p, 16, dir);
    assert_false(sg_spool_on_disk(sg_msg_body(mem)));
    assert_true(sg_spool_on_disk(sg_msg_body(disk)));
    struct sg_quarantined qm, qd;
    record_ok(mem, &v, &p, 1, &qm);
    record_ok(disk, &v, &p, 1, &qd);
    size_t want_len;
    char *want = expected_raw(&want_len);
    assert_int_equal(qd.raw_len, want_len);
    assert_memory_equal(qd.raw, want, want_len);
    assert_string_equal(qd.fingerprint, qm.fingerprint);
    free(want);
    sg_quarantine_record_clear(&qm);
    sg_quarantine_record_clear(&qd);
    sg_msg_free(&mem);
    sg_msg_free(&disk);

    /* Larger than one spool read chunk: every byte, in order. */
    size_t big_len = 3 * 1024 * 1024 + 17;
    char *big = sg_xmalloc(big_len);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i % 251);
    struct parts bp = p;
    bp.body = big;
    bp.body_len = big_len;
    disk = build(&bp, 16, dir);
    assert_true(sg_spool_on_disk(sg_msg_body(disk)));
    record_ok(disk, &v, &bp, 1, &qd);
    size_t hl = sizeof(expected_head) - 1;
    assert_int_equal(qd.raw_len, hl + big_len);
    assert_memory_equal(qd.raw, expected_head, hl);
    assert_memory_equal(qd.raw + hl, big, big_len);
    sg_quarantine_record_clear(&qd);
    sg_msg_free(&disk);
    free(big);

    sg_verdict_clear(&v);
    tu_rmtree(dir);
    free(dir);
}

/* test_unreadable_spool - a spool file that cannot be read is SG_TEMP, nothing filled */
static void
test_unreadable_spool(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    struct parts p = base_parts();
    struct sg_msg *msg = build(&p, 16, dir);
    int fd = sg_spool_fd(sg_msg_body(msg));
    assert_true(fd >= 0);
    /* Swap the spool file for a write-only descriptor: pread fails with EBADF. */
    int wo = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(wo >= 0);
    assert_int_equal(dup2(wo, fd), fd);
    close(wo);
    struct sg_verdict v;
    verdict_with(&v, NULL, NULL, 0);
    struct sg_envelope env = {
        .env_from = "a@example.org", .rcpts = (char *const *)p.rcpts, .nrcpts = 2};
    struct sg_quarantined q;
    char *error = NULL;
    assert_int_equal(sg_quarantine_record(msg, &v, &env, 1, &q, &error), SG_TEMP);
    assert_non_null(error);
    assert_non_null(strstr(error, "spool"));
    assert_null(q.raw);
    assert_null(q.fingerprint);
    free(error);
    sg_verdict_clear(&v);
    sg_msg_free(&msg);
    tu_rmtree(dir);
    free(dir);
}

/* test_release_token - 64 lower-case hex digits, different every time */
static void
test_release_token(void **state)
{
    (void)state;
    char *error = NULL;
    char *a = sg_release_token(&error);
    char *b = sg_release_token(&error);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(strlen(a), 64);
    assert_int_equal(strlen(b), 64);
    assert_int_equal(strspn(a, "0123456789abcdef"), 64);
    assert_int_equal(strspn(b, "0123456789abcdef"), 64);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

/* test_release_message - the token header first, then raw with the line ends asked for */
static void
test_release_message(void **state)
{
    (void)state;
    const char *token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    /* CRLF raw with a folded field, a lone CR, a NUL and 8-bit bytes. */
    static const unsigned char raw[] = "Subject: a\r\n"
                                       "\tb\r\n"
                                       "To: klant@example.nl\r\n"
                                       "\r\n"
                                       "cr\rin a line\r\n"
                                       "nul\0\xc3\xa9\r\n"
                                       ".dot\r\n";
    size_t raw_len = sizeof(raw) - 1;
    size_t len;

    char *crlf = sg_release_message(raw, raw_len, token, true, &len);
    char *head = sg_xasprintf("X-Sendguard-Release: %s\r\n", token);
    size_t hl = strlen(head);
    assert_int_equal(len, hl + raw_len);
    assert_memory_equal(crlf, head, hl);
    assert_memory_equal(crlf + hl, raw, raw_len);
    free(head);
    free(crlf);

    char *lf = sg_release_message(raw, raw_len, token, false, &len);
    static const unsigned char want_lf[] = "Subject: a\n"
                                           "\tb\n"
                                           "To: klant@example.nl\n"
                                           "\n"
                                           "cr\rin a line\n"
                                           "nul\0\xc3\xa9\n"
                                           ".dot\n";
    head = sg_xasprintf("X-Sendguard-Release: %s\n", token);
    hl = strlen(head);
    assert_int_equal(len, hl + sizeof(want_lf) - 1);
    assert_memory_equal(lf, head, hl);
    assert_memory_equal(lf + hl, want_lf, sizeof(want_lf) - 1);
    free(head);
    free(lf);

    /* The whole path: a recorded message released as CRLF is the header plus its raw. */
    struct parts p = base_parts();
    struct sg_msg *msg = build(&p, 1 << 20, "/tmp");
    struct sg_verdict v;
    verdict_with(&v, NULL, NULL, 0);
    struct sg_quarantined q;
    record_ok(msg, &v, &p, 1, &q);
    char *out = sg_release_message(q.raw, q.raw_len, token, true, &len);
    head = sg_xasprintf("%s: %s\r\n", SG_RELEASE_HEADER, token);
    hl = strlen(head);
    assert_memory_equal(out, head, hl);
    /* Everything but the body's bare LF is unchanged; that one is a line
     * end too, so the CRLF form has CRLF there ("Line ends are CRLF"). */
    size_t want_len;
    char *want = expected_raw(&want_len);
    char *lfpos = memmem(want, want_len, "kale\nLF", 7);
    assert_non_null(lfpos);
    size_t cut = (size_t)(lfpos - want) + 4;
    assert_int_equal(len, hl + want_len + 1);
    assert_memory_equal(out + hl, want, cut);
    assert_memory_equal(out + hl + cut, "\r\n", 2);
    assert_memory_equal(out + hl + cut + 2, want + cut + 1, want_len - cut - 1);
    free(head);
    free(out);
    free(want);
    sg_quarantine_record_clear(&q);
    sg_verdict_clear(&v);
    sg_msg_free(&msg);
}

/* test_release_header_not_stored - a message that carried a release
 * header (a failed release coming back, or a user's own) is stored without
 * it, and fingerprinted without it: otherwise its next release would carry
 * two and never pass */
static void
test_release_header_not_stored(void **state)
{
    (void)state;
    struct parts p = base_parts();
    struct sg_msg *plain = build(&p, 1 << 20, "/tmp");
    struct sg_msg *tagged = sg_msg_new(1 << 20, "/tmp");
    sg_msg_add_header(tagged, SG_RELEASE_HEADER, " 0123abcd");
    for (size_t i = 0; i < sg_msg_header_count(plain); i++)
        sg_msg_add_header(tagged, sg_msg_header_name(plain, i), sg_msg_header_value(plain, i));
    char *error = NULL;
    assert_int_equal(sg_msg_add_body(tagged, p.body, p.body_len, &error), SG_OK);
    struct sg_verdict v;
    verdict_with(&v, NULL, NULL, 0);
    struct sg_quarantined a, b;
    record_ok(plain, &v, &p, 1, &a);
    record_ok(tagged, &v, &p, 1, &b);
    assert_int_equal(b.raw_len, a.raw_len);
    assert_memory_equal(b.raw, a.raw, a.raw_len);
    assert_string_equal(b.fingerprint, a.fingerprint);
    assert_null(memmem(b.raw, b.raw_len, SG_RELEASE_HEADER, strlen(SG_RELEASE_HEADER)));

    /* The token's body hash: the same from the message as the milter gets
     * it and from the stored bytes, with CRLF or LF line ends. */
    char *h1 = sg_quarantine_body_hash(tagged, &error);
    char *h2 = sg_quarantine_raw_body_hash(a.raw, a.raw_len);
    size_t lf_len;
    char *lf = sg_release_message(a.raw, a.raw_len, "tok", false, &lf_len);
    char *h3 = sg_quarantine_raw_body_hash((unsigned char *)lf, lf_len);
    assert_non_null(h1);
    assert_int_equal(strlen(h1), 64);
    assert_string_equal(h1, h2);
    assert_string_equal(h1, h3);
    /* The same body with an empty line more at its end (some SMTP clients
     * add one), or with LF line ends: the same hash. */
    struct parts r = p;
    char *longer = sg_xmalloc(p.body_len + 4); /* the body has a NUL: no string functions */
    memcpy(longer, p.body, p.body_len);
    memcpy(longer + p.body_len, "\r\n\r\n", 4);
    r.body = longer;
    r.body_len = p.body_len + 4;
    struct sg_msg *padded = build(&r, 1 << 20, "/tmp");
    char *h5 = sg_quarantine_body_hash(padded, &error);
    assert_string_equal(h1, h5);
    free(h5);
    free(longer);
    sg_msg_free(&padded);
    /* Another body: another hash. */
    struct parts q = p;
    q.body = "Another body.\r\n";
    q.body_len = strlen(q.body);
    struct sg_msg *other = build(&q, 1 << 20, "/tmp");
    char *h4 = sg_quarantine_body_hash(other, &error);
    assert_string_not_equal(h1, h4);
    free(h1);
    free(h2);
    free(h3);
    free(h4);
    free(lf);
    sg_quarantine_record_clear(&a);
    sg_quarantine_record_clear(&b);
    sg_msg_free(&plain);
    sg_msg_free(&tagged);
    sg_msg_free(&other);
    sg_verdict_clear(&v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_release_header_not_stored),
        cmocka_unit_test(test_record_fields),    cmocka_unit_test(test_record_reason),
        cmocka_unit_test(test_fingerprint),      cmocka_unit_test(test_spooled_body),
        cmocka_unit_test(test_unreadable_spool), cmocka_unit_test(test_release_token),
        cmocka_unit_test(test_release_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
