/*
 * score.c - rule hits for one message.
 *
 * Term lists: every text location (subject, each text part, each attachment
 * name) is folded and scanned once by the rules' single automaton; a list
 * counts at most once per location kind, with that kind's weight, and keeps
 * the first match as its snippet.  Structural rules look at the analysed
 * content.  Combinations fire when all the rules they name fired.
 */
#include "score.h"

#include "fold.h"
#include "psl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bytes of context shown on each side of a matched term. */
#define SNIPPET_CONTEXT 30
/* Visible text shorter than this (non-space bytes) counts as "near empty". */
#define NEAR_EMPTY_TEXT 50

struct hits {
    struct sg_hit *v;
    size_t n, cap;
};

/* add_hit - record a hit; snippet is copied */
static void
add_hit(struct hits *h, const char *rule, const char *explain, double weight, const char *where,
        const char *snippet)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->v = sg_xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    h->v[h->n++] =
        (struct sg_hit){rule, explain, weight, where, sg_xstrdup(snippet ? snippet : "")};
}

/* fired - has the rule with this id hit already? */
static bool
fired(const struct hits *h, const char *id)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcmp(h->v[i].rule, id) == 0)
            return true;
    return false;
}

/* structural - add a structural rule's hit if the rules file weights it */
static void
structural(const struct sg_rules *rules, struct hits *h, const char *id, const char *where,
           const char *snippet)
{
    const char *explain;
    double w = sg_rules_weight(rules, id, &explain);
    if (explain != NULL && !fired(h, id))
        add_hit(h, id, explain, w, where, snippet);
}

/* one_line - copy of text[start,end) with context, newlines and tabs as spaces (caller frees) */
static char *
one_line(const char *text, size_t len, size_t start, size_t end)
{
    size_t a = start > SNIPPET_CONTEXT ? start - SNIPPET_CONTEXT : 0;
    size_t b = end + SNIPPET_CONTEXT < len ? end + SNIPPET_CONTEXT : len;
    /* Do not cut a UTF-8 character in half. */
    while (a > 0 && ((unsigned char)text[a] & 0xC0) == 0x80)
        a--;
    while (b < len && ((unsigned char)text[b] & 0xC0) == 0x80)
        b++;
    char *out = sg_xmalloc(b - a + 1);
    size_t o = 0;
    bool space = false;
    for (size_t i = a; i < b; i++) {
        char c = text[i];
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            if (!space && o > 0)
                out[o++] = ' ';
            space = true;
        } else {
            out[o++] = c;
            space = false;
        }
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return out;
}

struct scan {
    const struct sg_rules_spec *spec;
    const char *text; /* original text */
    size_t text_len;
    const struct sg_folded *folded;
    enum sg_where where;
    char **first; /* per list: first snippet found at this location kind (NULL: none) */
};

/* on_match - remember the first match of each list */
static bool
on_match(size_t id, size_t start, size_t end, void *arg)
{
    struct scan *s = arg;
    size_t list = id >> 20;
    if (s->first[list] == NULL && s->spec->lists[list].weight[s->where] != 0.0)
        s->first[list] =
            one_line(s->text, s->text_len, s->folded->offsets[start], s->folded->offsets[end]);
    return true;
}

/* scan_text - fold and scan one text at one location kind */
static void
scan_text(const struct sg_rules *rules, const char *text, size_t len, enum sg_where where,
          char **first)
{
    struct sg_folded f;
    sg_fold(text, len, &f);
    struct scan s = {sg_rules_spec_of(rules), text, len, &f, where, first};
    sg_matcher_scan(sg_rules_matcher(rules), f.text, f.len, on_match, &s);
    sg_folded_clear(&f);
}

/* term_hits - every term list, per location kind */
static void
term_hits(const struct sg_rules *rules, const struct sg_content *c, struct hits *h)
{
    const struct sg_rules_spec *spec = sg_rules_spec_of(rules);
    if (spec->nlists == 0)
        return;
    char **first = sg_xcalloc(spec->nlists, sizeof(char *));
    for (enum sg_where w = 0; w < SG_WHERE_COUNT; w++) {
        if (w == SG_WHERE_SUBJECT && c->subject != NULL)
            scan_text(rules, c->subject, strlen(c->subject), w, first);
        for (size_t i = 0; w == SG_WHERE_BODY && i < c->nparts; i++)
            scan_text(rules, c->parts[i].text, c->parts[i].text_len, w, first);
        for (size_t i = 0; w == SG_WHERE_ATTACHMENT && i < c->nattachments; i++)
            scan_text(rules, c->attachments[i].filename, strlen(c->attachments[i].filename), w,
                      first);
        for (size_t l = 0; l < spec->nlists; l++) {
            if (first[l] != NULL) {
                add_hit(h, spec->lists[l].id, spec->lists[l].explain, spec->lists[l].weight[w],
                        sg_where_name(w), first[l]);
                free(first[l]);
                first[l] = NULL;
            }
        }
    }
    free(first);
}

/* url_host - the host of an http(s)/ftp URL or "www." text, lower case (caller frees), or NULL */
static char *
url_host(const char *url)
{
    const char *p = url;
    while (*p == ' ' || *p == '<' || *p == '"' || *p == '\'')
        p++;
    const char *scheme = strstr(p, "://");
    if (scheme != NULL && (size_t)(scheme - p) < 10)
        p = scheme + 3;
    else if (strncasecmp(p, "mailto:", 7) == 0 || strncasecmp(p, "tel:", 4) == 0)
        return NULL;
    const char *at = NULL;
    for (const char *q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
        if (*q == '@')
            at = q;
    if (at != NULL)
        p = at + 1;
    size_t n;
    if (*p == '[') {
        n = strcspn(p, "]");
        return sg_str_lower(sg_xstrndup(p + 1, n > 0 ? n - 1 : 0));
    }
    n = strcspn(p, ":/?#> \t\r\n\"'");
    if (n == 0)
        return NULL;
    return sg_str_lower(sg_xstrndup(p, n));
}

/* shown_host - the host of the first web address the link text shows ("www.x.nl",
 * "x.nl/pay", "https://..."), lower case (caller frees), or NULL */
static char *
shown_host(const char *text)
{
    /* Find the first token with a dot and letters after the last dot. */
    const char *p = text;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        size_t n = strcspn(p, " \t\r\n");
        char *tok = sg_xstrndup(p, n);
        char *host = url_host(tok);
        free(tok);
        if (host != NULL) {
            /* A real domain: a dot, and a suffix the Public Suffix List knows
             * ("factuur-2026.pdf" is a file name, not a web address). */
            const char *dot = strrchr(host, '.');
            if (dot != NULL && dot != host && sg_psl_known_suffix(host))
                return host;
            free(host);
        }
        p += n;
    }
    return NULL;
}

/* is_ip_literal - an IPv6 or IPv4 address, including the forms browsers also
 * accept for IPv4: one to four labels, each decimal or 0x-hexadecimal
 * ("3325256711", "0xc6.0x33.100.7") */
static bool
is_ip_literal(const char *host)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET6, host, buf) == 1 || inet_pton(AF_INET, host, buf) == 1)
        return true;
    int labels = 0;
    for (const char *p = host; *p;) {
        bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
        const char *q = hex ? p + 2 : p;
        const char *start = q;
        while (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q))
            q++;
        if (q == start || (*q != '.' && *q != '\0') || ++labels > 4)
            return false;
        p = *q == '.' ? q + 1 : q;
    }
    return labels > 0;
}

/* in_list - case-insensitive membership */
static bool
in_list(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(list[i], s) == 0)
            return true;
    return false;
}

/* link_hits - text showing one domain, going to another; shorteners; bare IPs */
static void
link_hits(const struct sg_rules *rules, const struct sg_content *c, struct hits *h)
{
    const struct sg_rules_spec *spec = sg_rules_spec_of(rules);
    for (size_t i = 0; i < c->nlinks; i++) {
        char *target = url_host(c->links[i].href);
        if (target == NULL)
            continue;
        char *snippet = sg_xasprintf("\"%s\" -> %s", c->links[i].text, c->links[i].href);
        if (in_list(spec->shorteners, spec->nshorteners, target))
            structural(rules, h, "url_shortener", "links", snippet);
        if (is_ip_literal(target))
            structural(rules, h, "ip_link", "links", snippet);
        char *shown = shown_host(c->links[i].text);
        if (shown != NULL) {
            char *a = sg_psl_org_domain(shown), *b = sg_psl_org_domain(target);
            if (strcmp(a, b) != 0)
                structural(rules, h, "link_mismatch", "links", snippet);
            free(a);
            free(b);
            free(shown);
        }
        free(snippet);
        free(target);
    }
}

/* extension - the part after the last dot, or "" */
static const char *
extension(const char *name, const char *end)
{
    for (const char *p = end; p > name; p--)
        if (p[-1] == '.')
            return p;
    return "";
}

/* attachment_hits - risky, macro-enabled, double-extension and encrypted attachments */
static void
attachment_hits(const struct sg_rules *rules, const struct sg_content *c, struct hits *h)
{
    static const char *const documents[] = {"pdf", "doc", "docx", "xls", "xlsx", "txt",
                                            "rtf", "odt", "csv",  "jpg", "jpeg", "png",
                                            "gif", "htm", "html", "zip", "xml"};
    const struct sg_rules_spec *spec = sg_rules_spec_of(rules);
    for (size_t i = 0; i < c->nattachments; i++) {
        const struct sg_attachment *a = &c->attachments[i];
        const char *name = a->filename;
        size_t len = strlen(name);
        while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '.'))
            len--; /* Windows ignores trailing dots and spaces: "x.exe. " is x.exe */
        char *trimmed = sg_xstrndup(name, len);
        const char *ext = extension(trimmed, trimmed + len);
        char *snippet = sg_xasprintf("%s (%s, %zu bytes)", name, a->content_type, a->size);
        bool risky = *ext && in_list(spec->risky_extensions, spec->nrisky_extensions, ext);
        if (risky)
            structural(rules, h, "risky_attachment", "attachment", snippet);
        if (*ext && in_list(spec->macro_extensions, spec->nmacro_extensions, ext))
            structural(rules, h, "macro_attachment", "attachment", snippet);
        if (risky && ext - 1 > trimmed) {
            char *inner_end = (char *)ext - 1;
            const char *inner = extension(trimmed, inner_end);
            char *inner_ext = sg_xstrndup(inner, (size_t)(inner_end - inner));
            for (size_t d = 0; d < SG_NELEM(documents) && *inner_ext; d++) {
                if (strcasecmp(inner_ext, documents[d]) == 0) {
                    structural(rules, h, "double_extension", "attachment", snippet);
                    break;
                }
            }
            free(inner_ext);
        }
        if (a->encrypted)
            structural(rules, h, "encrypted_archive", "attachment", snippet);
        free(snippet);
        free(trimmed);
    }
}

/* visible_chars - non-space bytes of all text parts */
static size_t
visible_chars(const struct sg_content *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->nparts; i++)
        for (size_t k = 0; k < c->parts[i].text_len; k++)
            n += !isspace((unsigned char)c->parts[i].text[k]);
    return n;
}

/* addr_org - organisational domain of an address (caller frees), or NULL */
static char *
addr_org(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    if (at == NULL || at[1] == '\0')
        return NULL;
    size_t n = strcspn(at + 1, "> \t\"");
    char *d = sg_xstrndup(at + 1, n);
    char *org = sg_psl_org_domain(d);
    free(d);
    return org;
}

/* differs - two addresses in different organisations (both known) */
static bool
differs(const char *a, const char *b)
{
    char *x = addr_org(a), *y = addr_org(b);
    bool d = x && y && strcmp(x, y) != 0;
    free(x);
    free(y);
    return d;
}

/* shouting - all capitals (8+ letters, 80%+ upper) or "!!!" */
static bool
shouting(const char *s)
{
    size_t letters = 0, upper = 0;
    for (const char *p = s; *p; p++) {
        if (isalpha((unsigned char)*p)) {
            letters++;
            upper += isupper((unsigned char)*p) != 0;
        }
    }
    return strstr(s, "!!!") != NULL || (letters >= 8 && upper * 5 >= letters * 4);
}

/* header_hits - Date, Message-ID, From display name, Reply-To, Subject, recipients */
static void
header_hits(const struct sg_rules *rules, const struct sg_content *c, time_t now, struct hits *h)
{
    const struct sg_rules_spec *spec = sg_rules_spec_of(rules);
    if (!c->has_date)
        structural(rules, h, "no_date", "header", "Date:");
    else if (llabs(c->date - (long long)now) > spec->date_skew_hours * 3600LL) {
        char buf[64];
        snprintf(buf, sizeof(buf), "Date is %lld hours off",
                 llabs(c->date - (long long)now) / 3600);
        structural(rules, h, "date_off", "header", buf);
    }
    if (!c->has_message_id)
        structural(rules, h, "no_message_id", "header", "Message-ID:");
    if (c->from_display != NULL && strchr(c->from_display, '@') != NULL &&
        differs(c->from_display, c->from_addr)) {
        char *s = sg_xasprintf("\"%s\" <%s>", c->from_display, c->from_addr ? c->from_addr : "");
        structural(rules, h, "display_name_address", "header", s);
        free(s);
    }
    if (c->reply_to_addr != NULL && differs(c->reply_to_addr, c->from_addr)) {
        char *s = sg_xasprintf("From %s, Reply-To %s", c->from_addr ? c->from_addr : "-",
                               c->reply_to_addr);
        structural(rules, h, "reply_to_mismatch", "header", s);
        free(s);
    }
    const char *subject = c->subject ? c->subject : "";
    bool blank = true;
    for (const char *p = subject; *p && blank; p++)
        blank = isspace((unsigned char)*p);
    if (blank)
        structural(rules, h, "empty_subject", "subject", "");
    else if (shouting(subject))
        structural(rules, h, "subject_shouting", "subject", subject);
    if (spec->many_recipients > 0 && c->n_visible_rcpts > (size_t)spec->many_recipients) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%zu addresses in To and Cc", c->n_visible_rcpts);
        structural(rules, h, "many_recipients", "header", buf);
    }
}

/* body_hits - HTML without text, image-only, empty, malformed */
static void
body_hits(const struct sg_rules *rules, const struct sg_content *c, struct hits *h)
{
    bool html = false, plain = false;
    for (size_t i = 0; i < c->nparts; i++) {
        html = html || c->parts[i].kind == SG_PART_HTML;
        plain = plain || c->parts[i].kind == SG_PART_PLAIN;
    }
    if (html && !plain)
        structural(rules, h, "html_no_text", "structure", "text/html without text/plain");
    size_t visible = visible_chars(c);
    /* Image spam is HTML built from pictures; a short note with a photo attached is not. */
    if (html && c->n_images > 0 && visible < NEAR_EMPTY_TEXT) {
        char buf[80];
        snprintf(buf, sizeof(buf), "%zu image(s), %zu characters of text", c->n_images, visible);
        structural(rules, h, "image_only", "structure", buf);
    } else if (visible < 10 && c->nattachments == 0) {
        structural(rules, h, "empty_body", "structure", "no text and no attachment");
    }
    if (c->nmalformations > 0)
        structural(rules, h, "malformed_mime", "structure", c->malformations[0].what);
}

/* combo_hits - combinations whose rules all fired */
static void
combo_hits(const struct sg_rules *rules, struct hits *h)
{
    const struct sg_rules_spec *spec = sg_rules_spec_of(rules);
    for (size_t i = 0; i < spec->ncombos; i++) {
        const struct sg_combo *k = &spec->combos[i];
        bool all = true;
        for (size_t j = 0; j < k->nall && all; j++)
            all = fired(h, k->all[j]);
        if (!all)
            continue;
        size_t len = 1;
        for (size_t j = 0; j < k->nall; j++)
            len += strlen(k->all[j]) + 3;
        char *s = sg_xcalloc(1, len);
        for (size_t j = 0; j < k->nall; j++) {
            if (j > 0)
                strcat(s, " + ");
            strcat(s, k->all[j]);
        }
        add_hit(h, k->id, k->explain, k->weight, "structure", s);
        free(s);
    }
}

/* by_weight - heaviest first; ties keep rule id order for stable output */
static int
by_weight(const void *a, const void *b)
{
    const struct sg_hit *x = a, *y = b;
    if (x->weight != y->weight)
        return x->weight < y->weight ? 1 : -1;
    int c = strcmp(x->rule, y->rule);
    return c != 0 ? c : strcmp(x->where, y->where);
}

/* sg_score_content - all hits and their sum */
void
sg_score_content(const struct sg_rules *rules, const struct sg_content *c, time_t now,
                 struct sg_score *score)
{
    struct hits h = {0};
    term_hits(rules, c, &h);
    body_hits(rules, c, &h);
    link_hits(rules, c, &h);
    attachment_hits(rules, c, &h);
    header_hits(rules, c, now, &h);
    combo_hits(rules, &h);
    if (h.n > 1)
        qsort(h.v, h.n, sizeof(*h.v), by_weight);
    score->total = 0;
    for (size_t i = 0; i < h.n; i++)
        score->total += h.v[i].weight;
    score->hits = h.v;
    score->nhits = h.n;
}

/* sg_score_clear - free hits */
void
sg_score_clear(struct sg_score *score)
{
    for (size_t i = 0; i < score->nhits; i++)
        free(score->hits[i].snippet);
    free(score->hits);
    score->hits = NULL;
    score->nhits = 0;
    score->total = 0;
}
