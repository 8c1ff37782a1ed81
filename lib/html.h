/*
 * html.h - an HTML part reduced to what its reader sees: the visible text
 * and the links in it.  A small tokenizer of its own, not a browser: tags,
 * comments, <script>, <style> and <title> are dropped; entities are decoded;
 * block elements (p, br, div, tr, li, h1..h6, ...) become line breaks; white
 * space is collapsed; zero-width and soft-hyphen characters, which a reader
 * cannot see, are removed.  Every <a href> becomes a link with its visible
 * text.
 *
 * Pure C, no library, no global state: thread-safe.  One pass over the
 * input, linear in its length, for any bytes at all (unclosed tags,
 * comments or quotes simply end the document), so a fuzz target can call it
 * directly.  Input is meant to be UTF-8; other bytes are copied as they are.
 */
#ifndef SG_HTML_H
#define SG_HTML_H

#include "common.h"
#include "content.h"

/* Links recorded per document at most; the rest are not listed. */
#define SG_HTML_MAX_LINKS 10000

/* What sg_html_parse produces.  All of it is the caller's: free with
 * sg_html_clear, or take the pointers (malloc'd) and zero the struct. */
struct sg_html {
    char *text; /* visible text, NUL-terminated; lines separated by '\n' */
    size_t text_len;
    struct sg_link *links; /* in document order */
    size_t nlinks;
};

/* sg_html_parse - the visible text and links of len bytes of HTML; *out is
 * overwritten (never fails; empty input gives text "") */
void sg_html_parse(const char *html, size_t len, struct sg_html *out);

/* sg_html_clear - free what sg_html_parse produced and zero *h (NULL-safe) */
void sg_html_clear(struct sg_html *h);

/* sg_html_decode_entities - s with character references decoded, as in an
 * attribute value (&amp; &euro; &#8364; &#x20AC; ...); unknown ones are kept
 * as written.  Returns a new NUL-terminated string (caller frees); its length
 * in *len_r when len_r is not NULL. */
char *sg_html_decode_entities(const char *s, size_t len, size_t *len_r);

#endif
