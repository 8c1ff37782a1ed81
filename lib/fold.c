/*
 * fold.c - case and accent folding of UTF-8 text for term matching.
 *
 * Each character is lower-cased, compatibility-decomposed (NFKD: "ﬁ" becomes
 * "fi", full-width "Ｆ" becomes "f", a no-break space a space), stripped of
 * every combining mark (non-zero combining class: accents, Greek tonos and
 * ypogegrammeni, Hebrew points) and lower-cased again.  A few letters that
 * Unicode does not decompose but readers take as accented or as two letters
 * get an entry of their own (ß→ss, æ→ae, œ→oe, ø→o, ł→l, ı→i, ς→σ...).
 * Typographic quotes, dashes and line separators become their ASCII
 * counterparts: match.h counts every byte >= 0x80 as a letter, so without
 * this "„factuur”" would hold no word "factuur".  Invisible characters used
 * to split words (soft hyphen, zero-width space and joiners, BOM) are
 * dropped.  Hangul syllables are kept whole: they carry no
 * accents, and their jamo would only triple the text.
 *
 * ASCII, most of any invoice, takes a fast path that only lower-cases.
 * Invalid UTF-8 is copied through one byte at a time, so every byte of the
 * input is consumed exactly once and the work is linear.  The output can be
 * longer than the input (ß→ss is not, but U+FDFA is 18 letters), so the
 * buffer grows by doubling.
 *
 * GLib is included here only, for its Unicode tables.  Pure; thread-safe.
 */
#include "fold.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

/* The output being built; offsets is NULL when the caller does not want them. */
struct fold_buf {
    char *text;
    size_t *offsets;
    size_t len, cap; /* cap excludes the slot for the NUL and for offsets[len] */
};

/* reserve - room for more bytes of output */
static void
reserve(struct fold_buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap * 2;
    if (cap < b->len + more)
        cap = b->len + more;
    b->text = sg_xrealloc(b->text, cap + 1);
    if (b->offsets != NULL)
        b->offsets = sg_xrealloc(b->offsets, (cap + 1) * sizeof(size_t));
    b->cap = cap;
}

/* put_bytes - append n bytes that all come from the character at input offset from */
static void
put_bytes(struct fold_buf *b, const char *s, size_t n, size_t from)
{
    memcpy(b->text + b->len, s, n);
    if (b->offsets != NULL)
        for (size_t k = 0; k < n; k++)
            b->offsets[b->len + k] = from;
    b->len += n;
}

/* put_char - append one character as UTF-8 */
static void
put_char(struct fold_buf *b, gunichar c, size_t from)
{
    char u[6];
    put_bytes(b, u, (size_t)g_unichar_to_utf8(c, u), from);
}

/* special - folding of a lower-case character Unicode does not decompose, or
 * NULL.  "" means the character is dropped. */
static const char *
special(gunichar c)
{
    switch (c) {
    case 0x00DF: /* ß (ẞ lower-cases to it) */
        return "ss";
    case 0x00E6: /* æ */
        return "ae";
    case 0x0153: /* œ */
        return "oe";
    case 0x00F8: /* ø */
        return "o";
    case 0x0142: /* ł */
        return "l";
    case 0x0111: /* đ */
    case 0x00F0: /* ð */
        return "d";
    case 0x00FE: /* þ */
        return "th";
    case 0x0127: /* ħ */
        return "h";
    case 0x0131: /* dotless ı, so Turkish text matches "i" */
        return "i";
    case 0x03C2: /* final ς is σ */
        return "\xCF\x83";
    case 0x2018: /* ‘ */
    case 0x2019: /* ’ */
    case 0x201A: /* ‚ */
    case 0x201B: /* ‛ */
    case 0x2032: /* ′ */
        return "'";
    case 0x201C: /* “ */
    case 0x201D: /* ” */
    case 0x201E: /* „ */
    case 0x201F: /* ‟ */
    case 0x00AB: /* « */
    case 0x00BB: /* » */
    case 0x2039: /* ‹ */
    case 0x203A: /* › */
        return "\"";
    case 0x2010: /* hyphen (the non-breaking one decomposes to it) */
    case 0x2012: /* figure dash */
    case 0x2013: /* – */
    case 0x2014: /* — */
    case 0x2015: /* horizontal bar */
    case 0x2212: /* minus */
        return "-";
    case 0x0085: /* next line */
    case 0x2028: /* line separator */
    case 0x2029: /* paragraph separator */
        return " ";
    case 0x00AD: /* soft hyphen */
    case 0x200B: /* zero-width space */
    case 0x200C: /* zero-width non-joiner */
    case 0x200D: /* zero-width joiner */
    case 0x2060: /* word joiner */
    case 0xFEFF: /* BOM / zero-width no-break space */
        return "";
    }
    return NULL;
}

/* fold_char - append the folding of one non-ASCII character from input offset from */
static void
fold_char(struct fold_buf *b, gunichar c, size_t from)
{
    gunichar parts[G_UNICHAR_MAX_DECOMPOSITION_LENGTH];
    gsize n = 1;

    c = g_unichar_tolower(c);
    if (c >= 0xAC00 && c <= 0xD7A3) /* Hangul syllable */
        parts[0] = c;
    else
        n = MIN(g_unichar_fully_decompose(c, TRUE, parts, G_N_ELEMENTS(parts)),
                G_N_ELEMENTS(parts));
    /* each part is at most 4 bytes of UTF-8, or a special of at most 2 */
    reserve(b, 4 * n);
    for (gsize k = 0; k < n; k++) {
        gunichar d = parts[k];
        if (g_unichar_combining_class(d) != 0)
            continue;
        d = g_unichar_tolower(d);
        if (d < 0x80) {
            char a = (char)d;
            put_bytes(b, &a, 1, from);
            continue;
        }
        const char *s = special(d);
        if (s != NULL)
            put_bytes(b, s, strlen(s), from);
        else
            put_char(b, d, from);
    }
}

/* fold - fold len bytes of text into out; offsets only when asked */
static void
fold(const char *text, size_t len, struct sg_folded *out, bool want_offsets)
{
    const unsigned char *in = (const unsigned char *)text;
    struct fold_buf b = {.cap = len + 16};
    size_t i = 0;

    b.text = sg_xmalloc(b.cap + 1);
    if (want_offsets)
        b.offsets = sg_xmalloc((b.cap + 1) * sizeof(size_t));
    while (i < len) {
        if (in[i] < 0x80) {
            /* a run of ASCII: one byte out per byte in */
            size_t j = i;
            while (j < len && in[j] < 0x80)
                j++;
            reserve(&b, j - i);
            char *o = b.text + b.len;
            for (size_t k = i; k < j; k++)
                *o++ = (char)(in[k] + ((unsigned)(in[k] - 'A') < 26u) * ('a' - 'A'));
            if (b.offsets != NULL)
                for (size_t k = i; k < j; k++)
                    b.offsets[b.len + (k - i)] = k;
            b.len += j - i;
            i = j;
            continue;
        }
        gunichar c = g_utf8_get_char_validated(text + i, (gssize)(len - i));
        if (c == (gunichar)-1 || c == (gunichar)-2) {
            /* not UTF-8: keep the byte as it is */
            reserve(&b, 1);
            put_bytes(&b, text + i, 1, i);
            i++;
            continue;
        }
        fold_char(&b, c, i);
        i += (size_t)g_utf8_skip[in[i]];
    }
    b.text[b.len] = '\0';
    if (b.offsets != NULL)
        b.offsets[b.len] = len;
    out->text = b.text;
    out->len = b.len;
    out->offsets = b.offsets;
}

/* sg_fold - fold UTF-8 text, with the map back to the input */
void
sg_fold(const char *text, size_t len, struct sg_folded *out)
{
    fold(text, len, out, true);
}

/* sg_folded_clear - free a folding's buffers and empty it */
void
sg_folded_clear(struct sg_folded *f)
{
    if (f == NULL)
        return;
    free(f->text);
    free(f->offsets);
    f->text = NULL;
    f->offsets = NULL;
    f->len = 0;
}

/* sg_fold_str - folded copy of a string, without offsets (caller frees) */
char *
sg_fold_str(const char *text)
{
    struct sg_folded f;
    if (text == NULL)
        return NULL;
    fold(text, strlen(text), &f, false);
    return f.text;
}
