/*
 * html.c - HTML to visible text and links, in one pass over the bytes.
 *
 * The output is built in a buffer whose white space is collapsed as it is
 * written: a run of white space becomes one pending separator (a space, or
 * a line break when a block element was crossed), written only when the
 * next visible character comes.  A link's text is the stretch of output
 * between its <a> and its </a> (or the next <a>, or the end).
 */
#include "html.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum sep { SEP_NONE, SEP_SPACE, SEP_LINE };

struct out {
    char *buf;
    size_t len, cap;
    enum sep pending;
    /* the open <a>: its href (malloc'd) and where its text starts */
    char *href;
    size_t link_start;
    bool in_link;
    struct sg_link *links;
    size_t nlinks, links_cap;
};

/* put - append raw bytes */
static void
put(struct out *o, const char *p, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        o->buf = sg_xrealloc(o->buf, cap);
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

/* sep - note white space; a line break outranks a space */
static void
sep(struct out *o, enum sep s)
{
    if (s > o->pending)
        o->pending = s;
}

/* visible - append visible bytes, preceded by the pending separator unless at the start */
static void
visible(struct out *o, const char *p, size_t n)
{
    if (o->pending != SEP_NONE && o->len > 0)
        put(o, o->pending == SEP_LINE ? "\n" : " ", 1);
    o->pending = SEP_NONE;
    put(o, p, n);
}

/* utf8_encode - cp as UTF-8 into b (4 bytes); returns the length */
static size_t
utf8_encode(uint32_t cp, char *b)
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* invisible - characters a reader cannot see (soft hyphen, zero-width ones, BOM) */
static bool
invisible(uint32_t cp)
{
    return cp == 0xAD || (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 || cp == 0xFEFF;
}

/* spacelike - characters that render as white space */
static bool
spacelike(uint32_t cp)
{
    return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == 0xA0 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* visible_cp - append one decoded character */
static void
visible_cp(struct out *o, uint32_t cp)
{
    char b[4];
    if (invisible(cp))
        return;
    if (spacelike(cp))
        sep(o, SEP_SPACE);
    else
        visible(o, b, utf8_encode(cp, b));
}

/* Named character references: the common ones.  legacy: also recognised
 * without the closing ';', as browsers do. */
static const struct entity {
    const char *name;
    uint32_t cp;
    bool legacy;
} entities[] = {
    {"amp", '&', true},       {"lt", '<', true},         {"gt", '>', true},
    {"quot", '"', true},      {"apos", '\'', false},     {"nbsp", 0xA0, true},
    {"euro", 0x20AC, false},  {"copy", 0xA9, true},      {"reg", 0xAE, true},
    {"trade", 0x2122, false}, {"hellip", 0x2026, false}, {"mdash", 0x2014, false},
    {"ndash", 0x2013, false}, {"lsquo", 0x2018, false},  {"rsquo", 0x2019, false},
    {"sbquo", 0x201A, false}, {"ldquo", 0x201C, false},  {"rdquo", 0x201D, false},
    {"bdquo", 0x201E, false}, {"laquo", 0xAB, true},     {"raquo", 0xBB, true},
    {"bull", 0x2022, false},  {"middot", 0xB7, true},    {"deg", 0xB0, true},
    {"times", 0xD7, true},    {"divide", 0xF7, true},    {"plusmn", 0xB1, true},
    {"shy", 0xAD, true},      {"zwnj", 0x200C, false},   {"zwj", 0x200D, false},
    {"ensp", 0x2002, false},  {"emsp", 0x2003, false},   {"thinsp", 0x2009, false},
    {"iexcl", 0xA1, true},    {"iquest", 0xBF, true},    {"cent", 0xA2, true},
    {"pound", 0xA3, true},    {"yen", 0xA5, true},       {"sect", 0xA7, true},
    {"para", 0xB6, true},     {"micro", 0xB5, true},     {"sup2", 0xB2, true},
    {"sup3", 0xB3, true},     {"frac12", 0xBD, true},    {"frac14", 0xBC, true},
    {"frac34", 0xBE, true},   {"permil", 0x2030, false}, {"dagger", 0x2020, false},
    {"larr", 0x2190, false},  {"rarr", 0x2192, false},   {"uarr", 0x2191, false},
    {"darr", 0x2193, false},  {"check", 0x2713, false},  {"auml", 0xE4, true},
    {"euml", 0xEB, true},     {"iuml", 0xEF, true},      {"ouml", 0xF6, true},
    {"uuml", 0xFC, true},     {"Auml", 0xC4, true},      {"Euml", 0xCB, true},
    {"Ouml", 0xD6, true},     {"Uuml", 0xDC, true},      {"szlig", 0xDF, true},
    {"aacute", 0xE1, true},   {"eacute", 0xE9, true},    {"iacute", 0xED, true},
    {"oacute", 0xF3, true},   {"uacute", 0xFA, true},    {"Eacute", 0xC9, true},
    {"agrave", 0xE0, true},   {"egrave", 0xE8, true},    {"ograve", 0xF2, true},
    {"acirc", 0xE2, true},    {"ecirc", 0xEA, true},     {"icirc", 0xEE, true},
    {"ocirc", 0xF4, true},    {"ucirc", 0xFB, true},     {"ccedil", 0xE7, true},
    {"Ccedil", 0xC7, true},   {"ntilde", 0xF1, true},    {"aring", 0xE5, true},
    {"oslash", 0xF8, true},   {"aelig", 0xE6, true},     {"ZeroWidthSpace", 0x200B, false},
};

/* cp1252 - what browsers make of &#128; .. &#159; (HTML's numeric reference rules) */
static const uint16_t cp1252[32] = {
    0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178,
};

static bool
is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static bool
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* hexval - value of a hex digit, or -1 */
static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* numeric_ref - &#...; at p (p[0] == '&', p[1] == '#'); *used_r bytes, 0 when not a reference */
static uint32_t
numeric_ref(const unsigned char *p, size_t n, size_t *used_r)
{
    size_t i = 2;
    bool hex = i < n && (p[i] == 'x' || p[i] == 'X');
    if (hex)
        i++;
    size_t start = i;
    uint32_t v = 0;
    for (; i < n; i++) {
        int d = hex ? hexval(p[i]) : (p[i] >= '0' && p[i] <= '9' ? p[i] - '0' : -1);
        if (d < 0)
            break;
        v = v > 0x10FFFF ? v : v * (hex ? 16 : 10) + (uint32_t)d;
    }
    if (i == start) {
        *used_r = 0;
        return 0;
    }
    if (i < n && p[i] == ';')
        i++;
    *used_r = i;
    if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0xFFFD;
    if (v >= 0x80 && v <= 0x9F)
        return cp1252[v - 0x80];
    return v;
}

/* named_ref - &name; at p; in_attr: a legacy name without ';' before '=' or an
 * alphanumeric stays literal (href="?a=1&copy=2").  *used_r 0 when not a reference. */
static uint32_t
named_ref(const unsigned char *p, size_t n, bool in_attr, size_t *used_r)
{
    size_t i = 1;
    while (i < n && i < 40 && is_alnum(p[i]))
        i++;
    size_t namelen = i - 1;
    *used_r = 0;
    if (namelen == 0)
        return 0;
    if (i < n && p[i] == ';') {
        for (size_t e = 0; e < SG_NELEM(entities); e++) {
            if (strlen(entities[e].name) == namelen &&
                memcmp(entities[e].name, p + 1, namelen) == 0) {
                *used_r = i + 1;
                return entities[e].cp;
            }
        }
        return 0;
    }
    /* No ';': the longest legacy name that starts the run, as browsers do. */
    size_t best = 0;
    uint32_t cp = 0;
    for (size_t e = 0; e < SG_NELEM(entities); e++) {
        size_t l = strlen(entities[e].name);
        if (entities[e].legacy && l <= namelen && l > best &&
            memcmp(entities[e].name, p + 1, l) == 0) {
            best = l;
            cp = entities[e].cp;
        }
    }
    if (best == 0)
        return 0;
    if (in_attr && 1 + best < n && (p[1 + best] == '=' || is_alnum(p[1 + best])))
        return 0;
    *used_r = 1 + best;
    return cp;
}

/* char_ref - a character reference at p (p[0] == '&'); *used_r 0 when there is none */
static uint32_t
char_ref(const unsigned char *p, size_t n, bool in_attr, size_t *used_r)
{
    if (n > 1 && p[1] == '#')
        return numeric_ref(p, n, used_r);
    return named_ref(p, n, in_attr, used_r);
}

/* sg_html_decode_entities - decode references as in an attribute value */
char *
sg_html_decode_entities(const char *s, size_t len, size_t *len_r)
{
    const unsigned char *p = (const unsigned char *)s;
    char *d = sg_xmalloc(len + 1); /* a reference is never shorter than its UTF-8 */
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t used = 0;
        uint32_t cp = p[i] == '&' ? char_ref(p + i, len - i, true, &used) : 0;
        if (used == 0) {
            d[o++] = (char)p[i++];
            continue;
        }
        o += utf8_encode(cp, d + o);
        i += used;
    }
    d[o] = '\0';
    if (len_r != NULL)
        *len_r = o;
    return d;
}

/* finish_link - close the open <a>: its text is the output written since it opened */
static void
finish_link(struct out *o)
{
    if (!o->in_link)
        return;
    o->in_link = false;
    if (o->nlinks >= SG_HTML_MAX_LINKS) {
        free(o->href);
        o->href = NULL;
        return;
    }
    size_t a = o->link_start, b = o->len;
    while (a < b && (o->buf[a] == ' ' || o->buf[a] == '\n'))
        a++;
    char *text = sg_xstrndup(o->buf ? o->buf + a : "", b - a);
    for (char *t = text; *t; t++)
        if (*t == '\n')
            *t = ' ';
    if (o->nlinks == o->links_cap) {
        o->links_cap = o->links_cap ? o->links_cap * 2 : 8;
        o->links = sg_xrealloc(o->links, o->links_cap * sizeof(*o->links));
    }
    o->links[o->nlinks].text = text;
    o->links[o->nlinks].href = o->href;
    o->nlinks++;
    o->href = NULL;
}

/* clean_href - entity-decoded, without the tabs and line breaks URL parsers drop,
 * leading and trailing white space trimmed */
static char *
clean_href(const unsigned char *v, size_t n)
{
    size_t len;
    char *d = sg_html_decode_entities((const char *)v, n, &len);
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        if (d[i] != '\t' && d[i] != '\n' && d[i] != '\r')
            d[o++] = d[i];
    while (o > 0 && (d[o - 1] == ' ' || d[o - 1] == '\f'))
        o--;
    size_t a = 0;
    while (a < o && (d[a] == ' ' || d[a] == '\f'))
        a++;
    memmove(d, d + a, o - a);
    d[o - a] = '\0';
    return d;
}

/* Elements whose start and end are line breaks, and table cells (a space). */
static const char *const block_tags[] = {
    "p",          "br",      "div",    "tr",     "li",       "h1",         "h2",   "h3",
    "h4",         "h5",      "h6",     "ul",     "ol",       "dl",         "dt",   "dd",
    "table",      "thead",   "tbody",  "tfoot",  "caption",  "blockquote", "pre",  "hr",
    "section",    "article", "header", "footer", "nav",      "aside",      "main", "figure",
    "figcaption", "address", "center", "form",   "fieldset", "legend",     "body", "html",
};

/* tag_in - is the lower-cased name equal one of the list? */
static bool
tag_in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* tag_effect - white space a tag (start or end) stands for */
static void
tag_effect(struct out *o, const char *name)
{
    if (tag_in(name, block_tags, SG_NELEM(block_tags)))
        sep(o, SEP_LINE);
    else if (strcmp(name, "td") == 0 || strcmp(name, "th") == 0)
        sep(o, SEP_SPACE);
}

/* read_name - a tag name at p, lower-cased into name; one too long for name
 * becomes "" (no tag we know is that long); returns its length in p */
static size_t
read_name(const unsigned char *p, size_t n, char *name, size_t size)
{
    size_t i = 0;
    while (i < n && !is_space(p[i]) && p[i] != '/' && p[i] != '>') {
        if (i + 1 < size)
            name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
        i++;
    }
    name[i < size ? i : 0] = '\0';
    return i;
}

/* skip_raw - the end of a raw-text element's content: the '<' of "</name", or n */
static size_t
skip_raw(const unsigned char *p, size_t n, size_t i, const char *name)
{
    size_t nl = strlen(name);
    while (i < n) {
        const unsigned char *lt = memchr(p + i, '<', n - i);
        if (lt == NULL)
            return n;
        size_t j = (size_t)(lt - p);
        if (j + 2 + nl <= n && p[j + 1] == '/' &&
            strncasecmp((const char *)p + j + 2, name, nl) == 0 &&
            (j + 2 + nl == n || is_space(p[j + 2 + nl]) || p[j + 2 + nl] == '/' ||
             p[j + 2 + nl] == '>'))
            return j;
        i = j + 1;
    }
    return n;
}

/* attributes - the rest of a start tag from p[i] (just past its name); returns the index
 * after its '>', or SIZE_MAX when the tag never closes.  *href_r gets the first href. */
static size_t
attributes(const unsigned char *p, size_t n, size_t i, bool want_href, char **href_r)
{
    for (;;) {
        while (i < n && (is_space(p[i]) || p[i] == '/'))
            i++;
        if (i >= n)
            return SIZE_MAX;
        if (p[i] == '>')
            return i + 1;
        size_t ns = i;
        i++; /* a name may start with '=' */
        while (i < n && !is_space(p[i]) && p[i] != '/' && p[i] != '>' && p[i] != '=')
            i++;
        size_t nlen = i - ns;
        while (i < n && is_space(p[i]))
            i++;
        if (i >= n || p[i] != '=')
            continue;
        i++;
        while (i < n && is_space(p[i]))
            i++;
        if (i >= n)
            return SIZE_MAX;
        size_t vs, ve;
        if (p[i] == '"' || p[i] == '\'') {
            const unsigned char *q = memchr(p + i + 1, p[i], n - i - 1);
            if (q == NULL)
                return SIZE_MAX;
            vs = i + 1;
            ve = (size_t)(q - p);
            i = ve + 1;
        } else {
            vs = i;
            while (i < n && !is_space(p[i]) && p[i] != '>')
                i++;
            ve = i;
        }
        if (want_href && *href_r == NULL && nlen == 4 &&
            strncasecmp((const char *)p + ns, "href", 4) == 0)
            *href_r = clean_href(p + vs, ve - vs);
    }
}

/* tag - markup starting at p[i] == '<'; returns where text resumes */
static size_t
tag(struct out *o, const unsigned char *p, size_t n, size_t i)
{
    char name[16];
    if (i + 1 >= n) {
        visible(o, "<", 1);
        return n;
    }
    unsigned char c = p[i + 1];
    if (c == '!') {
        if (i + 3 < n && p[i + 2] == '-' && p[i + 3] == '-') {
            const unsigned char *end = memmem(p + i + 2, n - i - 2, "-->", 3);
            return end ? (size_t)(end - p) + 3 : n;
        }
        const unsigned char *gt = memchr(p + i, '>', n - i);
        return gt ? (size_t)(gt - p) + 1 : n;
    }
    if (c == '?') {
        const unsigned char *gt = memchr(p + i, '>', n - i);
        return gt ? (size_t)(gt - p) + 1 : n;
    }
    if (c == '/') {
        size_t j = i + 2 + read_name(p + i + 2, n - i - 2, name, sizeof(name));
        const unsigned char *gt = memchr(p + j, '>', n - j);
        if (strcmp(name, "a") == 0)
            finish_link(o);
        tag_effect(o, name);
        return gt ? (size_t)(gt - p) + 1 : n;
    }
    if (!is_alpha(c)) {
        visible(o, "<", 1);
        return i + 1;
    }
    size_t j = i + 1 + read_name(p + i + 1, n - i - 1, name, sizeof(name));
    bool is_a = strcmp(name, "a") == 0;
    char *href = NULL;
    j = attributes(p, n, j, is_a, &href);
    if (j == SIZE_MAX) {
        free(href); /* the tag never closes: nothing after it is text */
        return n;
    }
    if (is_a) {
        finish_link(o); /* <a> does not nest: a new one closes the last */
        if (href != NULL) {
            o->in_link = true;
            o->href = href;
            o->link_start = o->len;
        }
    }
    tag_effect(o, name);
    if (strcmp(name, "script") == 0 || strcmp(name, "style") == 0 || strcmp(name, "title") == 0)
        return skip_raw(p, n, j, name);
    return j;
}

/* utf8_cp - the code point of a 2- or 3-byte UTF-8 sequence at p (0 if not one), length in *len */
static uint32_t
utf8_cp(const unsigned char *p, size_t n, size_t *len)
{
    if (n >= 2 && (p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
        *len = 2;
        return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (n >= 3 && (p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        *len = 3;
        return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    *len = 1;
    return 0;
}

/* sg_html_parse - one pass: text, references, markup */
void
sg_html_parse(const char *html, size_t len, struct sg_html *out)
{
    const unsigned char *p = (const unsigned char *)html;
    struct out o = {0};
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == '<') {
            i = tag(&o, p, len, i);
        } else if (c == '&') {
            size_t used;
            uint32_t cp = char_ref(p + i, len - i, false, &used);
            if (used == 0) {
                visible(&o, "&", 1);
                i++;
            } else {
                visible_cp(&o, cp);
                i += used;
            }
        } else if (is_space(c)) {
            sep(&o, SEP_SPACE);
            i++;
        } else if (c >= 0xC2 && c <= 0xEF) {
            size_t l;
            uint32_t cp = utf8_cp(p + i, len - i, &l);
            if (l > 1 && (invisible(cp) || spacelike(cp)))
                visible_cp(&o, cp);
            else
                visible(&o, (const char *)p + i, l);
            i += l;
        } else {
            size_t s = i++;
            while (i < len && p[i] != '<' && p[i] != '&' && !is_space(p[i]) && p[i] < 0xC2)
                i++;
            visible(&o, (const char *)p + s, i - s);
        }
    }
    finish_link(&o);
    free(o.href);
    if (o.buf == NULL)
        o.buf = sg_xstrdup("");
    else
        o.buf[o.len] = '\0';
    out->text = o.buf;
    out->text_len = o.len;
    out->links = o.links;
    out->nlinks = o.nlinks;
}

/* sg_html_clear - free text and links */
void
sg_html_clear(struct sg_html *h)
{
    if (h == NULL)
        return;
    free(h->text);
    for (size_t i = 0; i < h->nlinks; i++) {
        free(h->links[i].text);
        free(h->links[i].href);
    }
    free(h->links);
    memset(h, 0, sizeof(*h));
}
