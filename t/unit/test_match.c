/*
 * test_match.c - many terms in one pass: word and prefix rules, overlaps,
 * early stop, and a brute-force cross-check on random text.
 */
#include "match.h"
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W SG_MATCH_WORD
#define P SG_MATCH_PREFIX

struct hit {
    size_t id, start, end;
};

struct hits {
    struct hit *v;
    size_t n, cap;
    size_t stop_after; /* 0: never stop */
};

/* collect - sg_match_fn that records every match */
static bool
collect(size_t id, size_t start, size_t end, void *arg)
{
    struct hits *h = arg;
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->v = sg_xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    h->v[h->n++] = (struct hit){id, start, end};
    return h->stop_after == 0 || h->n < h->stop_after;
}

/* format - matches as "id@start-end ..." in the order reported (caller frees) */
static char *
format(const struct hits *h)
{
    char *s = sg_xstrdup("");
    for (size_t i = 0; i < h->n; i++) {
        char *t = sg_xasprintf("%s%s%zu@%zu-%zu", s, i ? " " : "", h->v[i].id, h->v[i].start,
                               h->v[i].end);
        free(s);
        s = t;
    }
    return s;
}

static const struct {
    struct {
        const char *term;
        enum sg_match_mode mode;
    } terms[4]; /* ids are the index + 1 */
    const char *text;
    const char *want;
} rows[] = {
    /* word terms: whole words only */
    {{{"factuur", W}}, "factuur: zie bijlage", "1@0-7"},
    {{{"factuur", W}}, "de factuur.", "1@3-10"},
    {{{"factuur", W}}, "factuur", "1@0-7"},
    {{{"factuur", W}}, "factuurnummer 12", ""},
    {{{"factuur", W}}, "mijnfactuur", ""},
    {{{"factuur", W}}, "factuur2024", ""}, /* digits are word characters */
    {{{"factuur", W}}, "#factuur_", "1@1-8"},
    /* prefix terms: a word start, any end */
    {{{"betaling", P}}, "betalingsherinnering", "1@0-8"},
    {{{"betaling", P}}, "uw betaling", "1@3-11"},
    {{{"betaling", P}}, "herbetaling", ""},
    {{{"betaling", P}}, "betalin", ""},
    /* terms with several words, and non-word bytes inside */
    {{{"e-mail", W}}, "stuur een e-mail.", "1@10-16"},
    {{{"e-mail", W}}, "xe-mail", ""},
    {{{"te betalen", W}}, "nog te  betalen, te betalen", "1@17-27"},
    /* overlapping terms, and several ending at the same byte (longest first) */
    {{{"factuur nummer", W}, {"nummer", W}}, "factuur nummer 5", "1@0-14 2@8-14"},
    {{{"te betalen", W}, {"betalen binnen", W}}, "te betalen binnen 14 dagen", "1@0-10 2@3-17"},
    {{{"fact", P}, {"factuur", W}, {"factuurnummer", W}}, "factuurnummer", "1@0-4 3@0-13"},
    {{{"a", P}, {"a b", P}, {"b", W}}, "a b a", "1@0-1 2@0-3 3@2-3 1@4-5"},
    /* the same term twice, and once per mode */
    {{{"iban", W}, {"iban", W}}, "uw iban", "1@3-7 2@3-7"},
    {{{"iban", W}, {"iban", P}}, "ibannummer iban", "2@0-4 1@11-15 2@11-15"},
    /* bytes >= 0x80 are letters, so UTF-8 neighbours join the word */
    {{{"factuur", W}}, "éfactuur", ""},
    {{{"factuur", W}}, "factuuré", ""},
    {{{"factuur", P}}, "factuuré", "1@0-7"},
    {{{"factuur", P}}, "x€factuur", ""},
    {{{"été", W}}, "un été chaud", "1@3-8"},
    /* terms at the very start and end, and the whole text */
    {{{"iban", W}, {"bic", W}}, "iban bic", "1@0-4 2@5-8"},
    {{{"x", W}}, "x", "1@0-1"},
    {{{"x", W}}, "", ""},
    /* failure links: a near miss must not hide the next match */
    {{{"abcd", W}, {"bce", W}, {"abc", P}}, "abcabce abce bce", "3@0-3 3@8-11 2@13-16"},
    {{{"aab", W}}, "aaab aab", "1@5-8"},
};

/* test_rows - each row's terms against its text */
static void
test_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct sg_matcher *m = sg_matcher_new();
        for (size_t k = 0; k < SG_NELEM(rows[i].terms) && rows[i].terms[k].term; k++)
            sg_matcher_add(m, rows[i].terms[k].term, rows[i].terms[k].mode, k + 1);
        sg_matcher_compile(m);
        struct hits h = {0};
        sg_matcher_scan(m, rows[i].text, strlen(rows[i].text), collect, &h);
        char *got = format(&h);
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("row %zu: \"%s\" gives \"%s\", not \"%s\"", i, rows[i].text, got,
                     rows[i].want);
        free(got);
        free(h.v);
        sg_matcher_free(&m);
        assert_null(m);
    }
}

/* test_stop - the scan ends as soon as the callback says so */
static void
test_stop(void **state)
{
    (void)state;
    struct sg_matcher *m = sg_matcher_new();
    sg_matcher_add(m, "a", W, 1);
    sg_matcher_add(m, "a", P, 2);
    sg_matcher_compile(m);
    const char *text = "a a a a a";
    for (size_t stop = 1; stop <= 4; stop++) {
        struct hits h = {.stop_after = stop};
        sg_matcher_scan(m, text, strlen(text), collect, &h);
        assert_int_equal(h.n, stop);
        free(h.v);
    }
    sg_matcher_free(&m);
}

/* test_empty - no terms (or only empty ones): nothing found, nothing breaks */
static void
test_empty(void **state)
{
    (void)state;
    struct sg_matcher *m = sg_matcher_new();
    sg_matcher_add(m, "", W, 1); /* ignored */
    sg_matcher_compile(m);
    struct hits h = {0};
    sg_matcher_scan(m, "some text", 9, collect, &h);
    sg_matcher_scan(m, "", 0, collect, &h);
    assert_int_equal(h.n, 0);
    sg_matcher_free(&m);
    sg_matcher_free(&m); /* NULL-safe */

    m = sg_matcher_new(); /* freed without compile */
    sg_matcher_add(m, "x", W, 1);
    sg_matcher_free(&m);
}

/* is_word - the word bytes of match.h */
static bool
is_word(unsigned char b)
{
    return b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

/* hit_cmp - order by start, end, id */
static int
hit_cmp(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* rnd - a small deterministic generator */
static unsigned
rnd(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* random_string - n pieces drawn from an alphabet of byte strings */
static size_t
random_string(char *buf, size_t n, const char *const *alpha, size_t nalpha, unsigned *seed)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = alpha[rnd(seed) % nalpha];
        memcpy(buf + len, p, strlen(p));
        len += strlen(p);
    }
    buf[len] = '\0';
    return len;
}

/* cross_check - nterms random terms against random text, versus a naive search */
static void
cross_check(const char *const *alpha, size_t nalpha, size_t nterms, size_t maxlen, size_t textlen,
            unsigned seed)
{
    char **terms = sg_xcalloc(nterms, sizeof(char *));
    enum sg_match_mode *modes = sg_xcalloc(nterms, sizeof(*modes));
    struct sg_matcher *m = sg_matcher_new();
    char *buf = sg_xmalloc(4 * maxlen + 1);
    for (size_t i = 0; i < nterms; i++) {
        random_string(buf, 1 + rnd(&seed) % maxlen, alpha, nalpha, &seed);
        terms[i] = sg_xstrdup(buf);
        modes[i] = rnd(&seed) % 2 ? W : P;
        sg_matcher_add(m, terms[i], modes[i], i);
    }
    free(buf);
    sg_matcher_compile(m);

    char *text = sg_xmalloc(4 * textlen + 1);
    size_t len = random_string(text, textlen, alpha, nalpha, &seed);
    struct hits got = {0}, want = {0};
    sg_matcher_scan(m, text, len, collect, &got);
    for (size_t i = 1; i < got.n; i++)
        assert_true(got.v[i - 1].end <= got.v[i].end); /* left to right by end */

    /* naive: every term at every position that starts with its first byte */
    size_t *next = sg_xmalloc(len * sizeof(size_t)), first[256];
    for (size_t b = 0; b < 256; b++)
        first[b] = SIZE_MAX;
    for (size_t p = len; p-- > 0;) {
        next[p] = first[(unsigned char)text[p]];
        first[(unsigned char)text[p]] = p;
    }
    for (size_t i = 0; i < nterms; i++) {
        size_t tl = strlen(terms[i]);
        for (size_t p = first[(unsigned char)terms[i][0]]; p != SIZE_MAX; p = next[p]) {
            size_t end = p + tl;
            if (end > len || memcmp(text + p, terms[i], tl) != 0)
                continue;
            if (p > 0 && is_word((unsigned char)text[p - 1]))
                continue;
            if (modes[i] == W && end < len && is_word((unsigned char)text[end]))
                continue;
            collect(i, p, end, &want);
        }
    }
    qsort(got.v, got.n, sizeof(struct hit), hit_cmp);
    qsort(want.v, want.n, sizeof(struct hit), hit_cmp);
    assert_true(want.n > 100); /* the check means something */
    assert_int_equal(got.n, want.n);
    for (size_t i = 0; i < got.n; i++)
        if (hit_cmp(&got.v[i], &want.v[i]) != 0)
            fail_msg("match %zu: got %zu@%zu-%zu, want %zu@%zu-%zu", i, got.v[i].id, got.v[i].start,
                     got.v[i].end, want.v[i].id, want.v[i].start, want.v[i].end);

    free(next);
    free(got.v);
    free(want.v);
    free(text);
    for (size_t i = 0; i < nterms; i++)
        free(terms[i]);
    free(terms);
    free(modes);
    sg_matcher_free(&m);
}

/* test_random_small - a tiny alphabet: dense overlaps, deep failure chains */
static void
test_random_small(void **state)
{
    (void)state;
    static const char *const alpha[] = {"a", "a", "b", "b", "c", " ", "-", "é"};
    cross_check(alpha, SG_NELEM(alpha), 10000, 8, 30000, 1);
}

/* test_random_words - 10,000 word-like terms over a-z, some with spaces */
static void
test_random_words(void **state)
{
    (void)state;
    static const char *const alpha[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l",
                                        "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x",
                                        "y", "z", " ", ".", "1", "ü", "e", "e", "n", "n", "a", "r"};
    cross_check(alpha, SG_NELEM(alpha), 10000, 5, 200000, 2);
}

struct scan_job {
    const struct sg_matcher *m;
    const char *text;
    size_t len;
    size_t count;
};

/* scan_thread - scan a shared matcher from another thread */
static void *
scan_thread(void *arg)
{
    struct scan_job *job = arg;
    for (int round = 0; round < 20; round++) {
        struct hits h = {0};
        sg_matcher_scan(job->m, job->text, job->len, collect, &h);
        if (round > 0 && h.n != job->count)
            job->count = SIZE_MAX;
        else
            job->count = h.n;
        free(h.v);
    }
    return NULL;
}

/* test_threads - concurrent scans of one matcher agree */
static void
test_threads(void **state)
{
    (void)state;
    static const char *const words[] = {"factuur", "betaling", "iban", "bitcoin", "wachtwoord"};
    struct sg_matcher *m = sg_matcher_new();
    for (size_t i = 0; i < SG_NELEM(words); i++)
        sg_matcher_add(m, words[i], i % 2 ? P : W, i);
    sg_matcher_compile(m);
    char *text = sg_xmalloc(50000);
    size_t len = 0;
    unsigned seed = 3;
    while (len < 49000) {
        const char *w = words[rnd(&seed) % SG_NELEM(words)];
        len += (size_t)sprintf(text + len, "%s%s", w, rnd(&seed) % 3 ? " " : "x");
    }
    struct scan_job jobs[4];
    pthread_t tids[4];
    for (size_t i = 0; i < 4; i++) {
        jobs[i] = (struct scan_job){m, text, len, 0};
        assert_int_equal(pthread_create(&tids[i], NULL, scan_thread, &jobs[i]), 0);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pthread_join(tids[i], NULL), 0);
    for (size_t i = 0; i < 4; i++) {
        assert_true(jobs[i].count > 1000);
        assert_int_equal(jobs[i].count, jobs[0].count);
    }
    free(text);
    sg_matcher_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),         cmocka_unit_test(test_stop),
        cmocka_unit_test(test_empty),        cmocka_unit_test(test_random_small),
        cmocka_unit_test(test_random_words), cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
