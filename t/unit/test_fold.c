/*
 * test_fold.c - case and accent folding, and the map back to the input.
 */
#include "fold.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *in;
    size_t in_len; /* 0: strlen(in) */
    const char *out;
    size_t out_len; /* 0: strlen(out) */
} rows[] = {
    {"", 0, "", 0},
    {"Factuur", 0, "factuur", 0},
    {"FACTUUR", 0, "factuur", 0},
    {"factúur", 0, "factuur", 0},
    {"Nr. 12-34: Zie BIJLAGE!", 0, "nr. 12-34: zie bijlage!", 0},
    {"Überweisung", 0, "uberweisung", 0},
    {"Straße", 0, "strasse", 0},
    {"GROẞ", 0, "gross", 0}, /* capital sharp s */
    {"Élève crème brûlée, naïve Ça", 0, "eleve creme brulee, naive ca", 0},
    {"façade À Ñ Å", 0, "facade a n a", 0},
    {"e\xcc\x81t\xc3\xa9", 0, "ete", 0}, /* decomposed and precomposed é */
    {"cœur Æble Ørsted Łódź", 0, "coeur aeble orsted lodz", 0},
    {"ﬁnance ﬂow", 0, "finance flow", 0},           /* ligatures */
    {"ＦＡＣＴＵＵＲ", 0, "factuur", 0},            /* full width */
    {"Ⅻ ² ㎅", 0, "xii 2 kb", 0},                   /* compatibility forms */
    {"İSTANBUL ıi", 0, "istanbul ii", 0},           /* Turkish dotted and dotless i */
    {"ΚΑΛΗΜΕΡΑ", 0, "καλημερα", 0},                 /* Greek */
    {"Ἀθῆναι ΟΔΟΣ οδός", 0, "αθηναι οδοσ οδοσ", 0}, /* polytonic, final sigma */
    {"ПРИВЕТ Ёлка", 0, "привет елка", 0},           /* Cyrillic */
    {"한국어 日本", 0, "한국어 日本", 0},           /* no case, no accents */
    {"ok 👍🏽 😀", 0, "ok 👍🏽 😀", 0}, /* emoji pass through */
    {"„Factuur” «x» ‘y’ a–b—c…", 0, "\"factuur\" \"x\" 'y' a-b-c...", 0},
    {"fac\xc2\xadtu\xe2\x80\x8bur", 0, "factuur", 0},         /* soft hyphen, zero-width space */
    {"a\u00a0b\u202fc", 0, "a b c", 0},                       /* no-break spaces */
    {"\377\376ABC", 0, "\377\376abc", 0},                     /* invalid bytes kept */
    {"ABC\xc3", 0, "abc\xc3", 0},                             /* truncated at the end */
    {"\303A\303\234", 0, "\303au", 0},                        /* lead byte without continuation */
    {"\xc0\xaf\xed\xa0\x80X", 0, "\xc0\xaf\xed\xa0\x80x", 0}, /* overlong, surrogate */
    {"\x80\xbf", 0, "\x80\xbf", 0},                           /* stray continuation bytes */
    {"A\0B", 3, "a\0b", 3},                                   /* NUL is just a byte */
};

/* check_offsets - offsets rise, stay inside the input, and end at its length */
static void
check_offsets(const struct sg_folded *f, size_t in_len, size_t row)
{
    for (size_t i = 0; i < f->len; i++) {
        if (f->offsets[i] >= in_len || (i > 0 && f->offsets[i] < f->offsets[i - 1]))
            fail_msg("row %zu: offsets[%zu] = %zu", row, i, f->offsets[i]);
    }
    if (f->offsets[f->len] != in_len)
        fail_msg("row %zu: offsets[len] = %zu, not %zu", row, f->offsets[f->len], in_len);
}

/* test_rows - each row's input folds to its output */
static void
test_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        size_t in_len = rows[i].in_len ? rows[i].in_len : strlen(rows[i].in);
        size_t out_len = rows[i].out_len ? rows[i].out_len : strlen(rows[i].out);
        struct sg_folded f;
        sg_fold(rows[i].in, in_len, &f);
        if (f.len != out_len || memcmp(f.text, rows[i].out, out_len) != 0)
            fail_msg("row %zu: \"%s\" folds to \"%s\", not \"%s\"", i, rows[i].in, f.text,
                     rows[i].out);
        assert_int_equal(f.text[f.len], '\0');
        check_offsets(&f, in_len, i);
        sg_folded_clear(&f);
        assert_null(f.text);
        assert_null(f.offsets);
        assert_int_equal(f.len, 0);

        if (rows[i].in_len == 0) {
            char *s = sg_fold_str(rows[i].in);
            assert_string_equal(s, rows[i].out);
            free(s);
        }
    }
}

/* span - the input span of the first occurrence of needle in the folding of in */
static char *
span(const char *in, const char *needle)
{
    struct sg_folded f;
    sg_fold(in, strlen(in), &f);
    const char *hit = strstr(f.text, needle);
    assert_non_null(hit);
    size_t start = (size_t)(hit - f.text), end = start + strlen(needle);
    char *s = sg_xstrndup(in + f.offsets[start], f.offsets[end] - f.offsets[start]);
    sg_folded_clear(&f);
    return s;
}

/* test_offsets - a span of folded text maps back to what the reader saw */
static void
test_offsets(void **state)
{
    (void)state;
    static const struct {
        const char *in, *needle, *seen;
    } spans[] = {
        {"Ünïcode façade", "facade", "façade"},
        {"Ünïcode façade", "unicode", "Ünïcode"},
        {"Ünïcode façade", "code f", "code f"},
        {"Die STRAẞE hier", "strasse", "STRAẞE"},
        {"Straße", "ss", "ß"},
        {"cafe\xcc\x81 ok", "cafe", "cafe\xcc\x81"}, /* the dropped mark stays with its letter */
        {"ﬁnance", "finance", "ﬁnance"},
        {"ok 👍 FACTUUR", "factuur", "FACTUUR"},
        {"\xff"
         "Factuur\xfe",
         "factuur", "Factuur"},
    };
    for (size_t i = 0; i < SG_NELEM(spans); i++) {
        char *s = span(spans[i].in, spans[i].needle);
        if (strcmp(s, spans[i].seen) != 0)
            fail_msg("\"%s\" in \"%s\" maps to \"%s\", not \"%s\"", spans[i].needle, spans[i].in, s,
                     spans[i].seen);
        free(s);
    }

    /* byte by byte: "Aß" is A(0) ß(1,2); folded "ass" */
    struct sg_folded f;
    sg_fold("A\xc3\x9f", 3, &f);
    static const size_t want[] = {0, 1, 1, 3};
    assert_int_equal(f.len, 3);
    for (size_t i = 0; i <= f.len; i++)
        assert_int_equal(f.offsets[i], want[i]);
    sg_folded_clear(&f);
    sg_folded_clear(NULL);
    assert_null(sg_fold_str(NULL));
}

/* valid_utf8 - well-formed UTF-8 (shortest forms, no surrogates), NULs allowed */
static bool
valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i], n;
        unsigned long cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (unsigned k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* test_random - random bytes and random UTF-8: no crash, sane offsets, stable refolding */
static void
test_random(void **state)
{
    (void)state;
    static const char *const pieces[] = {"a",
                                         "Z",
                                         " ",
                                         "é",
                                         "É",
                                         "ß",
                                         "ẞ",
                                         "ﬁ",
                                         "Σ",
                                         "ς",
                                         "Ж",
                                         "\xcc\x81",
                                         "👍",
                                         "﷽",
                                         "İ",
                                         "한",
                                         "\xe2\x80\x8b",
                                         "."};
    unsigned seed = 12345;
    char buf[4096];
    for (int round = 0; round < 400; round++) {
        size_t n = 0;
        bool utf8 = round % 2 == 0;
        while (n < sizeof(buf) - 8) {
            seed = seed * 1103515245u + 12345u;
            if (utf8) {
                const char *p = pieces[(seed >> 16) % SG_NELEM(pieces)];
                memcpy(buf + n, p, strlen(p));
                n += strlen(p);
            } else {
                buf[n++] = (char)(seed >> 16);
            }
            if ((seed >> 8) % 512 == 0)
                break;
        }
        struct sg_folded f;
        sg_fold(buf, n, &f);
        check_offsets(&f, n, (size_t)round);
        if (utf8) {
            /* valid input folds to valid output, and folding it again changes nothing */
            assert_true(valid_utf8(f.text, f.len));
            struct sg_folded g;
            sg_fold(f.text, f.len, &g);
            assert_int_equal(g.len, f.len);
            assert_memory_equal(g.text, f.text, f.len);
            sg_folded_clear(&g);
        }
        sg_folded_clear(&f);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rows), cmocka_unit_test(test_offsets),
                                       cmocka_unit_test(test_random)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
