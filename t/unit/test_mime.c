/*
 * test_mime.c - sg_mime_analyse: what a message says, as the scorer gets
 * it.  Transfer encodings and charsets, RFC 2047 and RFC 2231 words, the MIME
 * tree (alternative, related, embedded messages), attachments and encrypted
 * archives, and broken input, which must always give a result and say what
 * was wrong with it.
 */
#include "mime.h"
#include "testutil.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* analyse_limit - text through sg_msg_parse and sg_mime_analyse, body spooled to dir past limit */
static struct sg_content *
analyse_limit(const char *text, size_t len, size_t limit, const char *dir)
{
    struct sg_msg *m = sg_msg_new(limit, dir);
    char *error = NULL;
    assert_int_equal(sg_msg_parse(m, text, len, &error), SG_OK);
    struct sg_content *c = NULL;
    if (sg_mime_analyse(m, &c, &error) != SG_OK)
        fail_msg("sg_mime_analyse: %s", error);
    assert_non_null(c);
    sg_msg_free(&m);
    return c;
}

/* analyse - a message in memory */
static struct sg_content *
analyse(const char *text)
{
    return analyse_limit(text, strlen(text), 1 << 20, "/tmp");
}

/* find_malformation - the first malformation containing what, or NULL */
static const char *
find_malformation(const struct sg_content *c, const char *what)
{
    for (size_t i = 0; i < c->nmalformations; i++)
        if (strstr(c->malformations[i].what, what) != NULL)
            return c->malformations[i].what;
    return NULL;
}

/* dump_malformations - for failure messages */
static char *
dump_malformations(const struct sg_content *c)
{
    char *s = sg_xstrdup("");
    for (size_t i = 0; i < c->nmalformations; i++) {
        char *n = sg_xasprintf("%s[%s] ", s, c->malformations[i].what);
        free(s);
        s = n;
    }
    return s;
}

/* expect_malformation - fail unless one malformation contains what */
static void
expect_malformation(const struct sg_content *c, const char *what, const char *name)
{
    if (find_malformation(c, what) == NULL) {
        char *all = dump_malformations(c);
        fail_msg("%s: no malformation \"%s\" in %s", name, what, all);
    }
}

/* base64 - data as base64 in lines of 76 (caller frees) */
static char *
base64(const unsigned char *data, size_t len)
{
    size_t enc = 4 * ((len + 2) / 3);
    unsigned char *flat = sg_xmalloc(enc + 1);
    EVP_EncodeBlock(flat, data, (int)len);
    char *out = sg_xmalloc(enc + 2 * (enc / 76 + 1) + 1);
    size_t o = 0;
    for (size_t i = 0; i < enc; i += 76) {
        size_t n = enc - i < 76 ? enc - i : 76;
        memcpy(out + o, flat + i, n);
        o += n;
        if (i + n < enc) {
            out[o++] = '\r';
            out[o++] = '\n';
        }
    }
    out[o] = '\0';
    free(flat);
    return out;
}

/* read_data - a file under t/data/mime (caller frees); its length in *len_r */
static char *
read_data(const char *name, size_t *len_r)
{
    char *rel = sg_xasprintf("t/data/mime/%s", name);
    char *path = tu_source(rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = sg_xmalloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    free(rel);
    free(path);
    *len_r = (size_t)n;
    return buf;
}

/* single - a one-part message with the given Content-Type, CTE line (or "") and body */
static char *
single(const char *ctype, const char *cte, const char *body)
{
    return sg_xasprintf("From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: %s\r\n%s\r\n%s",
                        ctype, cte, body);
}

/* ---- transfer encodings and charsets ---- */

struct text_case {
    const char *name;
    const char *ctype;
    const char *cte; /* the whole header line, or "" */
    const char *body;
    const unsigned char *raw; /* when set: body is base64 of these bytes (raw_len) */
    size_t raw_len;
    enum sg_part_kind kind;
    const char *text;
    const char *malformation; /* NULL: none expected */
};

static const unsigned char cp1252_euro[] = "Totaal: \x80 12,50 \x96 betaald";
static const unsigned char utf8_html[] = "<p>Gr\xc3\xbc\xc3\x9f"
                                         "e &amp; <b>dank</b></p>";
static const unsigned char utf16le[] = {'h', 0, 0xe9, 0, 0xac, 0x20};

static const struct text_case text_cases[] = {
    {"7bit ascii", "text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit\r\n",
     "Beste klant,\r\nuw factuur.\r\n", NULL, 0, SG_PART_PLAIN, "Beste klant,\nuw factuur.\n",
     NULL},
    {"no encoding, no charset", "text/plain", "", "ascii only\r\n", NULL, 0, SG_PART_PLAIN,
     "ascii only\n", NULL},
    {"8bit utf-8", "text/plain; charset=UTF-8", "Content-Transfer-Encoding: 8bit\r\n",
     "Gr\xc3\xbc\xc3\x9f"
     "e \xe2\x82\xac 5\r\n",
     NULL, 0, SG_PART_PLAIN,
     "Gr\xc3\xbc\xc3\x9f"
     "e \xe2\x82\xac 5\n",
     NULL},
    {"binary utf-8", "text/plain; charset=utf-8", "Content-Transfer-Encoding: binary\r\n",
     "na\xc3\xaf"
     "ef\r\n",
     NULL, 0, SG_PART_PLAIN,
     "na\xc3\xaf"
     "ef\n",
     NULL},
    {"quoted-printable iso-8859-1", "text/plain; charset=ISO-8859-1",
     "Content-Transfer-Encoding: quoted-printable\r\n",
     "Caf=E9 cr=E8me, een heel lange regel die met een zacht regeleinde is afge=\r\nbroken.\r\n",
     NULL, 0, SG_PART_PLAIN,
     "Caf\xc3\xa9 cr\xc3\xa8me, een heel lange regel die met een zacht regeleinde is afgebroken.\n",
     NULL},
    {"base64 windows-1252 with euro", "text/plain; charset=windows-1252",
     "Content-Transfer-Encoding: base64\r\n", NULL, cp1252_euro, sizeof(cp1252_euro) - 1,
     SG_PART_PLAIN, "Totaal: \xe2\x82\xac 12,50 \xe2\x80\x93 betaald", NULL},
    {"quoted-printable windows-1252 html", "text/html; charset=\"cp1252\"",
     "Content-Transfer-Encoding: quoted-printable\r\n", "<p>Totaal&nbsp;=80 5</p>\r\n", NULL, 0,
     SG_PART_HTML, "Totaal \xe2\x82\xac 5", NULL},
    {"base64 utf-8 html", "text/html; charset=utf-8", "Content-Transfer-Encoding: base64\r\n", NULL,
     utf8_html, sizeof(utf8_html) - 1, SG_PART_HTML,
     "Gr\xc3\xbc\xc3\x9f"
     "e & dank",
     NULL},
    {"base64 utf-16le", "text/plain; charset=utf-16le", "Content-Transfer-Encoding: base64\r\n",
     NULL, utf16le, sizeof(utf16le), SG_PART_PLAIN, "h\xc3\xa9\xe2\x82\xac", NULL},
    {"uuencode", "text/plain; charset=us-ascii", "Content-Transfer-Encoding: x-uuencode\r\n",
     "begin 644 tekst.txt\r\n%:&%L;&\\`\r\n`\r\nend\r\n", NULL, 0, SG_PART_PLAIN, "hallo", NULL},
    {"8-bit without charset", "text/plain", "Content-Transfer-Encoding: 8bit\r\n",
     "Prijs \x80 5, caf\xe9\r\n", NULL, 0, SG_PART_PLAIN, "Prijs \xe2\x82\xac 5, caf\xc3\xa9\n",
     "8-bit text in the text/plain part"},
    {"utf-8 without charset", "text/plain; charset=us-ascii", "", "caf\xc3\xa9\r\n", NULL, 0,
     SG_PART_PLAIN, "caf\xc3\xa9\n", "8-bit text"},
    {"unknown charset", "text/plain; charset=x-does-not-exist", "", "caf\xe9\r\n", NULL, 0,
     SG_PART_PLAIN, "caf\xc3\xa9\n", "unknown charset \"x-does-not-exist\""},
    {"invalid utf-8", "text/plain; charset=utf-8", "",
     "a\xff"
     "b\r\n",
     NULL, 0, SG_PART_PLAIN,
     "a\xef\xbf\xbd"
     "b\n",
     "invalid UTF-8"},
    {"NUL in text", "text/plain; charset=utf-8", "Content-Transfer-Encoding: base64\r\n",
     "YQBi\r\n", NULL, 0, SG_PART_PLAIN,
     "a\xef\xbf\xbd"
     "b",
     "invalid UTF-8"},
    {"charset alias latin1", "text/plain; charset=latin1", "", "\xe9t\xe9\r\n", NULL, 0,
     SG_PART_PLAIN, "\xc3\xa9t\xc3\xa9\n", NULL},
};

/* test_text_parts - every transfer encoding and charset case, one part each */
static void
test_text_parts(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(text_cases); i++) {
        const struct text_case *tc = &text_cases[i];
        char *body = tc->raw ? base64(tc->raw, tc->raw_len) : sg_xstrdup(tc->body);
        char *msg = single(tc->ctype, tc->cte, body);
        struct sg_content *c = analyse(msg);
        if (c->nparts != 1)
            fail_msg("%s: %zu parts", tc->name, c->nparts);
        assert_int_equal(c->parts[0].kind, tc->kind);
        if (strcmp(c->parts[0].text, tc->text) != 0)
            fail_msg("%s: text \"%s\", want \"%s\"", tc->name, c->parts[0].text, tc->text);
        assert_int_equal(c->parts[0].text_len, strlen(tc->text));
        assert_false(c->parts[0].in_alternative);
        if (tc->malformation != NULL) {
            expect_malformation(c, tc->malformation, tc->name);
        } else if (c->nmalformations != 0) {
            char *all = dump_malformations(c);
            fail_msg("%s: unexpected malformations %s", tc->name, all);
        }
        assert_int_equal(c->nattachments, 0);
        sg_content_free(&c);
        assert_null(c);
        free(msg);
        free(body);
    }
}

/* ---- header words ---- */

/* test_header_words - decoded subject and display name, addresses, recipients, date */
static void
test_header_words(void **state)
{
    (void)state;
    struct sg_content *c =
        analyse("From: =?ISO-8859-1?Q?Bakkerij_M=FCller?= <Factuur@Example.NL>\r\n"
                "Reply-To: antwoord@example.nl, tweede@example.nl\r\n"
                "To: klant@example.com, Team: a@example.com, b@example.com;\r\n"
                "Cc: \"Boekhouding\" <boekhouding@example.com>\r\n"
                "Bcc: verborgen@example.com\r\n"
                "Subject: =?UTF-8?Q?Factuur_2026-0042?=\r\n"
                "Date: Mon, 02 Feb 2026 09:00:00 +0100\r\n"
                "Message-ID: <42@example.nl>\r\n"
                "\r\n"
                "tekst\r\n");
    assert_string_equal(c->subject, "Factuur 2026-0042");
    assert_string_equal(c->from_display, "Bakkerij M\xc3\xbcller");
    assert_string_equal(c->from_addr, "Factuur@Example.NL");
    assert_string_equal(c->reply_to_addr, "antwoord@example.nl");
    assert_int_equal(c->n_visible_rcpts, 4);
    assert_true(c->has_date);
    assert_int_equal(c->date, 1770019200LL);
    assert_true(c->has_message_id);
    assert_int_equal(c->nmalformations, 0);
    sg_content_free(&c);

    /* Folded, several encoded words, two charsets; the first Subject counts. */
    c = analyse("From: plain@example.nl\r\n"
                "Subject: =?UTF-8?B?RmFjdHV1cg==?=\r\n =?ISO-8859-1?Q?_f=FCr?= Sie\r\n"
                "Subject: tweede\r\n"
                "\r\n");
    assert_string_equal(c->subject, "Factuur f\xc3\xbcr Sie");
    assert_null(c->from_display);
    assert_string_equal(c->from_addr, "plain@example.nl");
    assert_null(c->reply_to_addr);
    assert_int_equal(c->n_visible_rcpts, 0);
    assert_false(c->has_date);
    assert_false(c->has_message_id);
    expect_malformation(c, "Subject appears more than once", "two subjects");
    sg_content_free(&c);

    /* Nothing at all; a Date that is not one; an empty Message-ID; raw 8-bit words. */
    c = analyse("Date: gisteren\r\nMessage-ID:  \r\nFrom: M\xc3\xbcller <m@example.nl>\r\n"
                "Subject: caf\xe9\r\n\r\nx\r\n");
    assert_false(c->has_date);
    assert_false(c->has_message_id);
    assert_string_equal(c->from_display, "M\xc3\xbcller");
    assert_string_equal(c->subject, "caf\xc3\xa9");
    expect_malformation(c, "Date header field cannot be parsed: \"gisteren\"", "bad date");
    expect_malformation(c, "not RFC 2047 encoded", "8-bit header");
    sg_content_free(&c);

    c = analyse("X-Only: one field\r\n\r\n");
    assert_null(c->subject);
    assert_null(c->from_addr);
    assert_null(c->from_display);
    sg_content_free(&c);
}

/* ---- structure ---- */

/* find_attachment - by file name */
static const struct sg_attachment *
find_attachment(const struct sg_content *c, const char *filename)
{
    for (size_t i = 0; i < c->nattachments; i++)
        if (strcmp(c->attachments[i].filename, filename) == 0)
            return &c->attachments[i];
    fail_msg("no attachment \"%s\"", filename);
    return NULL;
}

/* check_nested - what t/data/mime/nested.eml holds */
static void
check_nested(const struct sg_content *c)
{
    assert_string_equal(c->subject, "Factuur 2026-0042");
    assert_string_equal(c->from_display, "Bakkerij M\xc3\xbcller");
    assert_int_equal(c->n_visible_rcpts, 3);
    /* mixed > alternative > (plain, related > (html, png)), then the embedded message's text */
    assert_int_equal(c->nparts, 3);
    assert_int_equal(c->parts[0].kind, SG_PART_PLAIN);
    assert_true(c->parts[0].in_alternative);
    assert_string_equal(c->parts[0].text,
                        "Beste klant,\n\nUw factuur van \xe2\x82\xac 1.234,56 staat klaar.");
    assert_int_equal(c->parts[1].kind, SG_PART_HTML);
    assert_true(c->parts[1].in_alternative);
    assert_string_equal(c->parts[1].text, "Beste klant,\nUw factuur van \xe2\x82\xac 1.234,56 "
                                          "staat klaar.\nBekijk uw factuur");
    assert_int_equal(c->parts[2].kind, SG_PART_PLAIN);
    assert_false(c->parts[2].in_alternative);
    assert_string_equal(c->parts[2].text, "Doorgestuurd bericht met een versleuteld archief.");

    assert_int_equal(c->nlinks, 1);
    assert_string_equal(c->links[0].text, "Bekijk uw factuur");
    assert_string_equal(c->links[0].href, "https://portal.example.nl/factuur?id=42&t=1");

    assert_int_equal(c->nattachments, 6);
    const struct sg_attachment *a = find_attachment(c, "logo.png");
    assert_string_equal(a->content_type, "image/png");
    assert_int_equal(a->size, 70);
    a = find_attachment(c, "factuur m\xc3\xa4rz.pdf"); /* RFC 2231 */
    assert_string_equal(a->content_type, "application/pdf");
    assert_int_equal(a->size, 45);
    a = find_attachment(c, "factuur.pdf.exe");
    assert_string_equal(a->content_type, "application/octet-stream");
    assert_int_equal(a->size, 64);
    a = find_attachment(c, "overzicht \xc3\xa9t\xc3\xa9.zip"); /* RFC 2047 in name= */
    assert_false(a->encrypted);
    assert_int_equal(a->size, 190);
    a = find_attachment(c, "doorgestuurd.eml");
    assert_string_equal(a->content_type, "message/rfc822");
    assert_true(a->size > 400);
    a = find_attachment(c, "documenten.zip"); /* made with zip -P, inside the embedded message */
    assert_true(a->encrypted);
    assert_int_equal(a->size, 218);
    assert_int_equal(c->n_images, 1);
    if (c->nmalformations != 0) {
        char *all = dump_malformations(c);
        fail_msg("unexpected malformations %s", all);
    }
}

/* test_nested - mixed > alternative > related, attachments, message/rfc822 inside */
static void
test_nested(void **state)
{
    (void)state;
    size_t len;
    char *text = read_data("nested.eml", &len);
    struct sg_content *c = analyse_limit(text, len, 1 << 20, "/tmp");
    check_nested(c);
    sg_content_free(&c);
    free(text);
}

/* test_spooled_to_disk - the same when the body went to a spool file */
static void
test_spooled_to_disk(void **state)
{
    (void)state;
    size_t len;
    char *text = read_data("nested.eml", &len);
    char *dir = tu_tempdir();
    struct sg_content *c = analyse_limit(text, len, 512, dir);
    check_nested(c);
    sg_content_free(&c);
    tu_rmtree(dir);
    free(dir);
    free(text);
}

/* test_alternative - in_alternative only when the alternative has another text part */
static void
test_alternative(void **state)
{
    (void)state;
    struct sg_content *c = analyse("From: a@example.nl\r\nMIME-Version: 1.0\r\n"
                                   "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
                                   "--m\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n"
                                   "--a\r\nContent-Type: text/plain\r\n\r\nalleen tekst\r\n"
                                   "--a\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n"
                                   "--a--\r\n"
                                   "--m\r\nContent-Type: text/html\r\n\r\n<p>los</p>\r\n"
                                   "--m--\r\n");
    assert_int_equal(c->nparts, 2);
    assert_false(c->parts[0].in_alternative);
    assert_false(c->parts[1].in_alternative);
    assert_int_equal(c->nattachments, 1);
    assert_string_equal(c->attachments[0].filename, "");
    sg_content_free(&c);
}

/* test_encoded_rfc822 - a base64 message/rfc822 is decoded and descended into */
static void
test_encoded_rfc822(void **state)
{
    (void)state;
    const char *inner = "From: x@example.com\r\nSubject: binnen\r\nMIME-Version: 1.0\r\n"
                        "Content-Type: text/html; charset=utf-8\r\n\r\n"
                        "<a href=\"http://binnen.example/\">binnen</a>\r\n";
    char *b64 = base64((const unsigned char *)inner, strlen(inner));
    char *msg = sg_xasprintf("From: a@example.nl\r\nMIME-Version: 1.0\r\n"
                             "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
                             "--m\r\nContent-Type: text/plain\r\n\r\nbuiten\r\n"
                             "--m\r\nContent-Type: message/rfc822\r\n"
                             "Content-Transfer-Encoding: base64\r\n"
                             "Content-Disposition: attachment; filename=fwd.eml\r\n\r\n%s\r\n"
                             "--m--\r\n",
                             b64);
    struct sg_content *c = analyse(msg);
    assert_int_equal(c->nparts, 2);
    assert_string_equal(c->parts[1].text, "binnen");
    assert_int_equal(c->nlinks, 1);
    assert_string_equal(c->links[0].href, "http://binnen.example/");
    assert_int_equal(c->nattachments, 1);
    assert_string_equal(c->attachments[0].filename, "fwd.eml");
    assert_string_equal(c->attachments[0].content_type, "message/rfc822");
    assert_int_equal(c->attachments[0].size, strlen(inner));
    assert_null(c->subject); /* the outer message has none; the inner one's does not count */
    sg_content_free(&c);
    free(msg);
    free(b64);
}

/* ---- attachments ---- */

struct name_case {
    const char *name;
    const char *headers; /* Content-Type and Content-Disposition lines */
    const char *filename;
    const char *content_type;
};

static const struct name_case name_cases[] = {
    {"rfc 2231",
     "Content-Type: application/pdf\r\n"
     "Content-Disposition: attachment; filename*=UTF-8''factuur%20m%C3%A4rz.pdf\r\n",
     "factuur m\xc3\xa4rz.pdf", "application/pdf"},
    {"rfc 2231 continuations",
     "Content-Type: application/pdf\r\nContent-Disposition: attachment;"
     "\r\n filename*0*=UTF-8''fact; filename*1*=uur%20%E2%82%AC.pdf\r\n",
     "factuur \xe2\x82\xac.pdf", "application/pdf"},
    {"rfc 2231 latin-1",
     "Content-Type: application/pdf\r\n"
     "Content-Disposition: attachment; filename*=iso-8859-1'de'r%E9sum%E9.pdf\r\n",
     "r\xc3\xa9sum\xc3\xa9.pdf", "application/pdf"},
    {"rfc 2047 in name",
     "Content-Type: application/pdf; name=\"=?UTF-8?B?ZmFjdHV1ciDigqwucGRm?=\"\r\n",
     "factuur \xe2\x82\xac.pdf", "application/pdf"},
    {"double extension",
     "Content-Type: application/octet-stream; name=\"factuur.pdf.exe\"\r\n"
     "Content-Disposition: attachment; filename=\"factuur.pdf.exe\"\r\n",
     "factuur.pdf.exe", "application/octet-stream"},
    {"no file name", "Content-Type: application/pdf\r\n", "", "application/pdf"},
    {"type in upper case", "Content-Type: APPLICATION/PDF; name=A.PDF\r\n", "A.PDF",
     "application/pdf"},
    {"attached text is an attachment",
     "Content-Type: text/plain\r\n"
     "Content-Disposition: attachment; filename=notes.txt\r\n",
     "notes.txt", "text/plain"},
    {"attached html is an attachment",
     "Content-Type: text/html\r\n"
     "Content-Disposition: ATTACHMENT; filename=page.htm\r\n",
     "page.htm", "text/html"},
    {"image", "Content-Type: image/jpeg; name=foto.jpg\r\n", "foto.jpg", "image/jpeg"},
};

/* test_attachment_names - file names decoded, types lower case, text attached stays attached */
static void
test_attachment_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(name_cases); i++) {
        const struct name_case *tc = &name_cases[i];
        char *msg = sg_xasprintf("From: a@example.nl\r\nMIME-Version: 1.0\r\n"
                                 "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
                                 "--m\r\n%s\r\n0123456789\r\n--m--\r\n",
                                 tc->headers);
        struct sg_content *c = analyse(msg);
        if (c->nattachments != 1)
            fail_msg("%s: %zu attachments", tc->name, c->nattachments);
        if (strcmp(c->attachments[0].filename, tc->filename) != 0)
            fail_msg("%s: file name \"%s\", want \"%s\"", tc->name, c->attachments[0].filename,
                     tc->filename);
        assert_string_equal(c->attachments[0].content_type, tc->content_type);
        assert_int_equal(c->attachments[0].size, 10);
        assert_false(c->attachments[0].encrypted);
        assert_int_equal(c->nparts, 0);
        assert_int_equal(c->n_images, strncmp(tc->content_type, "image/", 6) == 0);
        sg_content_free(&c);
        free(msg);
    }
}

/* ---- archives ---- */

struct bytes {
    unsigned char *p;
    size_t len;
};

/* put - append bytes */
static void
put(struct bytes *b, const void *data, size_t n)
{
    b->p = sg_xrealloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

/* put16, put32 - little-endian integers */
static void
put16(struct bytes *b, unsigned v)
{
    unsigned char x[2] = {v & 0xFF, (v >> 8) & 0xFF};
    put(b, x, 2);
}

static void
put32(struct bytes *b, unsigned long v)
{
    put16(b, v & 0xFFFF);
    put16(b, (v >> 16) & 0xFFFF);
}

/* zip - a stored ZIP of two entries with these general purpose flags; prefix bytes before it
 * (a self-extractor); local_flags_1 may differ from what the central directory says */
static struct bytes
zip(const char *prefix, unsigned local1, unsigned cd1, unsigned flags2)
{
    struct bytes b = {0};
    put(&b, prefix, strlen(prefix));
    size_t off[2];
    unsigned lflags[2] = {local1, flags2}, cflags[2] = {cd1, flags2};
    const char *names[2] = {"a.txt", "b.txt"}, *data = "inhoud";
    for (int e = 0; e < 2; e++) {
        off[e] = b.len - strlen(prefix);
        put(&b, "PK\3\4", 4);
        put16(&b, 20);
        put16(&b, lflags[e]);
        put16(&b, 0); /* stored */
        put32(&b, 0); /* time, date */
        put32(&b, 0); /* crc (not checked) */
        put32(&b, strlen(data));
        put32(&b, strlen(data));
        put16(&b, strlen(names[e]));
        put16(&b, 0);
        put(&b, names[e], strlen(names[e]));
        put(&b, data, strlen(data));
    }
    size_t cd = b.len;
    for (int e = 0; e < 2; e++) {
        put(&b, "PK\1\2", 4);
        put16(&b, 20);
        put16(&b, 20);
        put16(&b, cflags[e]);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, 0);
        put32(&b, strlen(data));
        put32(&b, strlen(data));
        put16(&b, strlen(names[e]));
        put16(&b, 0); /* extra */
        put16(&b, 0); /* comment */
        put16(&b, 0);
        put16(&b, 0);
        put32(&b, 0);
        put32(&b, off[e]);
        put(&b, names[e], strlen(names[e]));
    }
    size_t cdsize = b.len - cd;
    put(&b, "PK\5\6", 4);
    put16(&b, 0);
    put16(&b, 0);
    put16(&b, 2);
    put16(&b, 2);
    put32(&b, cdsize);
    put32(&b, cd - strlen(prefix));
    put16(&b, 7);
    put(&b, "comment", 7);
    return b;
}

/* sevenzip - a 7z signature header pointing at a next header of the given bytes */
static struct bytes
sevenzip(const unsigned char *next, size_t next_len)
{
    static const unsigned char sig[] = {'7', 'z', 0xBC, 0xAF, 0x27, 0x1C, 0, 4};
    struct bytes b = {0};
    put(&b, sig, sizeof(sig));
    put32(&b, 0);   /* start header CRC */
    put32(&b, 100); /* next header offset (after 100 bytes of packed streams) */
    put32(&b, 0);
    put32(&b, next_len);
    put32(&b, 0);
    put32(&b, 0); /* next header CRC */
    unsigned char packed[100];
    memset(packed, 0x5A, sizeof(packed));
    put(&b, packed, sizeof(packed));
    put(&b, next, next_len);
    return b;
}

/* rar5 - signature, main header, and one file header with an optional encryption record */
static struct bytes
rar5(bool header_encryption, bool file_encryption)
{
    struct bytes b = {0};
    put(&b, "Rar!\x1A\x07\x01\x00", 8);
    if (header_encryption) {
        static const unsigned char enc[] = {0, 0, 0, 0, 0x21, 4, 0, 0, 0x0F};
        put(&b, enc, sizeof(enc));
        unsigned char junk[48];
        memset(junk, 0xA5, sizeof(junk));
        put(&b, junk, sizeof(junk));
        return b;
    }
    static const unsigned char main_hdr[] = {0, 0, 0, 0, 3, 1, 0, 0};
    put(&b, main_hdr, sizeof(main_hdr));
    /* file header: crc, size, type 2, flags 3 (extra + data), extra size, data size,
     * file flags, unpacked size, attributes, compression, host os, name, extra area */
    unsigned char f[64];
    size_t n = 0, extra_len = file_encryption ? 4 : 0;
    unsigned char body[] = {2, extra_len ? 3 : 2};
    unsigned char rest[] = {0, 6, 0x20, 0, 0, 5, 'a', '.', 't', 'x', 't'};
    size_t hsize = sizeof(body) + (extra_len ? 1 : 0) + 1 + sizeof(rest) + extra_len;
    memset(f, 0, 4);
    n = 4;
    f[n++] = (unsigned char)hsize;
    memcpy(f + n, body, sizeof(body));
    n += sizeof(body);
    if (extra_len)
        f[n++] = (unsigned char)extra_len;
    f[n++] = 6; /* data size */
    memcpy(f + n, rest, sizeof(rest));
    n += sizeof(rest);
    if (extra_len) { /* record: size 3, type 1 (encryption), version 0, flags 0 */
        static const unsigned char rec[] = {3, 1, 0, 0};
        memcpy(f + n, rec, sizeof(rec));
        n += sizeof(rec);
    }
    put(&b, f, n);
    put(&b, "inhoud", 6);
    return b;
}

/* rar4 - marker, main header with these flags, one file header with these flags */
static struct bytes
rar4(unsigned main_flags, unsigned file_flags)
{
    struct bytes b = {0};
    put(&b, "Rar!\x1A\x07\x00", 7);
    put16(&b, 0);
    put(&b, "\x73", 1);
    put16(&b, main_flags);
    put16(&b, 13);
    put16(&b, 0);
    put32(&b, 0);
    put16(&b, 0);
    put(&b, "\x74", 1);
    put16(&b, file_flags | 0x8000);
    put16(&b, 32 + 5);
    put32(&b, 6); /* packed size */
    put32(&b, 6);
    put(&b, "\0", 1);
    put32(&b, 0);
    put32(&b, 0);
    put(&b, "\x14\x30", 2);
    put16(&b, 5);
    put32(&b, 0x20);
    put(&b, "a.txt", 5);
    put(&b, "inhoud", 6);
    return b;
}

/* test_encrypted_archives - the encryption flag of ZIP, 7z and RAR, built byte by byte */
static void
test_encrypted_archives(void **state)
{
    (void)state;
    static const unsigned char aes_header[] = {0x17, 0x06, 0x01, 0x09, 0x20, 0x07, 0x0B, 0x01,
                                               0x00, 0x02, 0x24, 0x06, 0xF1, 0x07, 0x01, 0x0A};
    static const unsigned char lzma_header[] = {0x17, 0x06, 0x01, 0x09, 0x20, 0x07, 0x0B, 0x01,
                                                0x00, 0x01, 0x23, 0x03, 0x01, 0x01, 0x05, 0x5D};
    struct {
        const char *name;
        struct bytes data;
        bool encrypted;
    } cases[] = {
        {"zip, clear", zip("", 0, 0, 0), false},
        {"zip, first entry encrypted", zip("", 1, 1, 0), true},
        {"zip, only the second entry encrypted", zip("", 0, 0, 1), true},
        {"zip, data descriptor, encrypted per central directory", zip("", 8, 9, 8), true},
        {"zip, AES (method 99 also sets bit 0)", zip("", 0x41, 0x41, 0x41), true},
        {"self-extracting zip, encrypted", zip("MZ self-extractor stub....", 8, 9, 8), true},
        {"7z, encrypted headers", sevenzip(aes_header, sizeof(aes_header)), true},
        {"7z, compressed headers", sevenzip(lzma_header, sizeof(lzma_header)), false},
        {"rar5, clear", rar5(false, false), false},
        {"rar5, encrypted headers", rar5(true, false), true},
        {"rar5, encrypted file", rar5(false, true), true},
        {"rar4, clear", rar4(0, 0), false},
        {"rar4, encrypted headers", rar4(0x0080, 0), true},
        {"rar4, encrypted file", rar4(0, 0x0004), true},
    };
    for (size_t i = 0; i < SG_NELEM(cases); i++) {
        char *b64 = base64(cases[i].data.p, cases[i].data.len);
        char *msg = sg_xasprintf("From: a@example.nl\r\nMIME-Version: 1.0\r\n"
                                 "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
                                 "--m\r\nContent-Type: text/plain\r\n\r\nbijlage\r\n"
                                 "--m\r\nContent-Type: application/octet-stream; name=archief\r\n"
                                 "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--m--\r\n",
                                 b64);
        struct sg_content *c = analyse(msg);
        assert_int_equal(c->nattachments, 1);
        assert_int_equal(c->attachments[0].size, cases[i].data.len);
        if (c->attachments[0].encrypted != cases[i].encrypted)
            fail_msg("%s: encrypted=%d", cases[i].name, c->attachments[0].encrypted);
        /* Truncated archives are never a problem, only possibly undetected. */
        for (size_t cut = 0; cut < cases[i].data.len; cut += 3) {
            char *tb64 = base64(cases[i].data.p, cut);
            char *tmsg = single("application/zip", "Content-Transfer-Encoding: base64\r\n", tb64);
            struct sg_content *tc = analyse(tmsg);
            assert_int_equal(tc->nattachments, 1);
            assert_int_equal(tc->attachments[0].size, cut);
            sg_content_free(&tc);
            free(tmsg);
            free(tb64);
        }
        sg_content_free(&c);
        free(msg);
        free(b64);
        free(cases[i].data.p);
    }
}

/* test_large_attachment - 11 MB through a file spool: decoded size exact, archive tail found */
static void
test_large_attachment(void **state)
{
    (void)state;
    size_t n = 11 * 1024 * 1024;
    struct bytes z = zip("", 8, 9, 8);
    unsigned char *data = sg_xmalloc(n + z.len);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 9));
    memcpy(data + n, z.p, z.len); /* an encrypted ZIP appended to 11 MB of stub */
    char *b64 = base64(data, n + z.len);
    char *msg = sg_xasprintf("From: a@example.nl\r\nSubject: groot\r\nMIME-Version: 1.0\r\n"
                             "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
                             "--m\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n"
                             "--m\r\nContent-Type: application/x-msdownload; name=setup.exe\r\n"
                             "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--m--\r\n",
                             b64);
    free(b64);
    char *dir = tu_tempdir();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct sg_content *c = analyse_limit(msg, strlen(msg), 1 << 16, dir);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("analysed %zu bytes in %.3f s\n", strlen(msg),
                  (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    assert_int_equal(c->nparts, 1);
    assert_string_equal(c->parts[0].text, "zie bijlage");
    assert_int_equal(c->nattachments, 1);
    assert_int_equal(c->attachments[0].size, n + z.len);
    assert_true(c->attachments[0].encrypted);
    assert_int_equal(c->nmalformations, 0);
    sg_content_free(&c);
    tu_rmtree(dir);
    free(dir);
    free(msg);
    free(data);
    free(z.p);
}

/* ---- broken input ---- */

struct broken_case {
    const char *name;
    const char *text;
    const char *malformation;
};

static const struct broken_case broken_cases[] = {
    {"multipart without boundary",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
     "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n",
     "multipart/mixed without a boundary parameter"},
    {"multipart with no parts",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
     "the boundary never comes\r\n",
     "multipart/mixed has no parts"},
    {"missing closing boundary",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
     "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
     "closing boundary missing"},
    {"inner multipart not closed",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n"
     "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
     "--i\r\nContent-Type: text/plain\r\n\r\nhi\r\n--o--\r\n",
     "multipart/alternative ends without its closing boundary"},
    {"truncated base64",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf; name=f.pdf\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\nJVBER\r\n",
     "base64 in the application/pdf part \"f.pdf\" is truncated"},
    {"base64 with invalid characters",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\naGFs!!bG8=\r\n",
     "base64 in the text/plain part has characters base64 does not allow"},
    {"base64 data after padding",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\naGE=aGFsbG8=\r\n",
     "characters base64 does not allow"},
    {"bad quoted-printable",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n\r\nprijs =ZZ euro=\r\n",
     "quoted-printable in the text/plain part has invalid =XX escapes"},
    {"quoted-printable cut in an escape",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
     "Content-Transfer-Encoding: quoted-printable\r\n\r\nprijs =8",
     "invalid =XX escapes"},
    {"unknown transfer encoding",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
     "Content-Transfer-Encoding: x-gzip64\r\n\r\nH4sI\r\n",
     "unknown Content-Transfer-Encoding \"x-gzip64\""},
    {"MIME headers without MIME-Version",
     "From: a@example.nl\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n",
     "without MIME-Version"},
    {"empty embedded message",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
     "--b\r\nContent-Type: message/rfc822\r\n\r\n--b--\r\n",
     "empty message/rfc822 part"},
    {"conflicting content types",
     "From: a@example.nl\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
     "Content-Type: text/html\r\n\r\nhi\r\n",
     "Content-Type appears more than once with different values"},
    {"empty message", "", "empty message"},
};

/* test_broken - each broken message analyses, and says what was broken */
static void
test_broken(void **state)
{
    (void)state;
    for (size_t i = 0; i < SG_NELEM(broken_cases); i++) {
        struct sg_content *c = analyse(broken_cases[i].text);
        expect_malformation(c, broken_cases[i].malformation, broken_cases[i].name);
        sg_content_free(&c);
    }
}

/* nested - n multiparts (or embedded messages) one inside the other, text at the bottom */
static char *
nested(int n, bool messages)
{
    char *inner = sg_xstrdup("Content-Type: text/plain\r\n\r\nbodem\r\n");
    for (int i = n - 1; i >= 0; i--) {
        char *outer = messages ? sg_xasprintf("Content-Type: message/rfc822\r\n\r\n"
                                              "Subject: niveau %d\r\n%s",
                                              i, inner)
                               : sg_xasprintf("Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                                              "--b%d\r\n%s--b%d--\r\n",
                                              i, i, inner, i);
        free(inner);
        inner = outer;
    }
    char *msg = sg_xasprintf("From: a@example.nl\r\nMIME-Version: 1.0\r\n%s", inner);
    free(inner);
    return msg;
}

/* test_nesting_limit - 8 levels are analysed, 9 and 100 stop with a malformation */
static void
test_nesting_limit(void **state)
{
    (void)state;
    for (int m = 0; m < 2; m++) {
        char *msg = nested(SG_MIME_MAX_DEPTH, m);
        struct sg_content *c = analyse(msg);
        assert_int_equal(c->nparts, 1);
        /* the line end before a boundary belongs to the boundary */
        assert_string_equal(c->parts[0].text, m ? "bodem\n" : "bodem");
        assert_null(find_malformation(c, "nested deeper"));
        sg_content_free(&c);
        free(msg);
        static const int deep[] = {SG_MIME_MAX_DEPTH + 1, 100, 1500};
        for (size_t d = 0; d < SG_NELEM(deep); d++) {
            msg = nested(deep[d], m);
            c = analyse(msg);
            assert_int_equal(c->nparts, 0);
            expect_malformation(c, "nested deeper than 8 levels", "deep");
            sg_content_free(&c);
            free(msg);
        }
    }
}

/* test_many_parts - a message of thousands of parts stops at the limit */
static void
test_many_parts(void **state)
{
    (void)state;
    size_t n = SG_MIME_MAX_PARTS + 500, len = 0;
    const char *head = "From: a@example.nl\r\nMIME-Version: 1.0\r\n"
                       "Content-Type: multipart/mixed; boundary=b\r\n\r\n";
    const char *part = "--b\r\nContent-Type: image/gif\r\n\r\nGIF89a\r\n";
    char *msg = sg_xmalloc(strlen(head) + n * strlen(part) + 16);
    memcpy(msg, head, strlen(head));
    len = strlen(head);
    for (size_t i = 0; i < n; i++) {
        memcpy(msg + len, part, strlen(part));
        len += strlen(part);
    }
    memcpy(msg + len, "--b--\r\n", 8);
    struct sg_content *c = analyse(msg);
    assert_int_equal(c->nattachments, SG_MIME_MAX_PARTS - 1);
    assert_int_equal(c->n_images, SG_MIME_MAX_PARTS - 1);
    expect_malformation(c, "more than 2000 MIME parts", "many parts");
    sg_content_free(&c);
    free(msg);
}

/* test_malformation_limit - identical findings once, distinct ones up to the limit */
static void
test_malformation_limit(void **state)
{
    (void)state;
    char *msg = sg_xstrdup("From: a@example.nl\r\nMIME-Version: 1.0\r\n"
                           "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (int i = 0; i < 100; i++) {
        char *next = sg_xasprintf("%s--b\r\nContent-Type: text/plain; charset=x-cs-%d\r\n\r\nx\r\n"
                                  "--b\r\nContent-Type: text/plain; charset=x-same\r\n\r\nx\r\n",
                                  msg, i);
        free(msg);
        msg = next;
    }
    struct sg_content *c = analyse(msg);
    assert_int_equal(c->nmalformations, SG_MIME_MAX_MALFORMATIONS + 1);
    assert_string_equal(c->malformations[SG_MIME_MAX_MALFORMATIONS].what,
                        "more malformations than are listed");
    size_t same = 0;
    for (size_t i = 0; i < c->nmalformations; i++)
        same += strstr(c->malformations[i].what, "x-same") != NULL;
    assert_int_equal(same, 1);
    assert_int_equal(c->nparts, 200);
    sg_content_free(&c);
    free(msg);
}

/* xorshift - deterministic garbage */
static unsigned
xorshift(unsigned *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* analyse_fed - text handed over the way the milter does: the header block through
 * sg_msg_parse, the rest of the bytes as one body chunk, not split into lines.  (Not
 * sg_msg_parse on everything: when the body's first line is empty it makes
 * sg_spool_append memcpy to NULL with length 0, which UBSan stops on.) */
static struct sg_content *
analyse_fed(const char *text, size_t len)
{
    size_t hend = len;
    for (size_t p = 0; p < len;) { /* the first empty line (LF or CRLF) ends the header block */
        const char *nl = memchr(text + p, '\n', len - p);
        size_t next = nl ? (size_t)(nl - text) + 1 : len;
        size_t content = nl ? (size_t)(nl - text) - p : len - p;
        if (content > 0 && text[p + content - 1] == '\r')
            content--;
        if (content == 0 && nl != NULL) {
            hend = next;
            break;
        }
        p = next;
    }
    struct sg_msg *m = sg_msg_new(1 << 20, "/tmp");
    char *error = NULL;
    assert_int_equal(sg_msg_parse(m, text, hend, &error), SG_OK);
    if (hend < len)
        assert_int_equal(sg_msg_add_body(m, text + hend, len - hend, &error), SG_OK);
    struct sg_content *c = NULL;
    assert_int_equal(sg_mime_analyse(m, &c, &error), SG_OK);
    assert_non_null(c);
    for (size_t p = 0; p < c->nparts; p++)
        assert_int_equal(strlen(c->parts[p].text), c->parts[p].text_len);
    sg_msg_free(&m);
    return c;
}

/* test_garbage - random bytes, random fields, and nested.eml cut short or with bytes
 * changed: always a result */
static void
test_garbage(void **state)
{
    (void)state;
    unsigned seed = 4242;
    static const char alphabet[] = "-\r\n:=?Bb\"; abc\x80";
    for (int round = 0; round < 200; round++) {
        size_t n = xorshift(&seed) % 4000;
        char *buf = sg_xmalloc(n + 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = round % 3 == 0 ? (char)(xorshift(&seed) & 0xFF)
                                    : alphabet[xorshift(&seed) % (sizeof(alphabet) - 1)];
        struct sg_content *c = analyse_fed(buf, n);
        sg_content_free(&c);
        free(buf);
    }
    static const char *const names[] = {
        "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Subject", "From", "Date",
        "To",           "Content-Disposition",       "X-\x80",       ""};
    static const char *const values[] = {" multipart/mixed; boundary=b",
                                         " message/rfc822",
                                         " base64",
                                         " =?UTF-8?B?@@@?=",
                                         " text/html; charset=\"",
                                         "\n\n--b\r\n",
                                         " attachment; filename*0*=x''%",
                                         " a@b, <",
                                         " Mon, 99 Foo 2026",
                                         "",
                                         " multipart/alternative; boundary=\"\""};
    for (int round = 0; round < 300; round++) {
        struct sg_msg *m = sg_msg_new(1 << 20, "/tmp");
        char *error = NULL;
        for (unsigned f = xorshift(&seed) % 8; f > 0; f--)
            sg_msg_add_header(m, names[xorshift(&seed) % SG_NELEM(names)],
                              values[xorshift(&seed) % SG_NELEM(values)]);
        char body[512];
        size_t n = 1 + xorshift(&seed) % sizeof(body);
        for (size_t i = 0; i < n; i++)
            body[i] = alphabet[xorshift(&seed) % (sizeof(alphabet) - 1)];
        assert_int_equal(sg_msg_add_body(m, body, n, &error), SG_OK);
        struct sg_content *c = NULL;
        assert_int_equal(sg_mime_analyse(m, &c, &error), SG_OK);
        sg_content_free(&c);
        sg_msg_free(&m);
    }
    size_t len;
    char *text = read_data("nested.eml", &len);
    for (size_t cut = 0; cut < len; cut += 41) {
        struct sg_content *c = analyse_fed(text, cut);
        sg_content_free(&c);
    }
    for (int round = 0; round < 300; round++) {
        char *copy = sg_xmalloc(len);
        memcpy(copy, text, len);
        for (int k = 0; k < 8; k++)
            copy[xorshift(&seed) % len] = "-\r\n:=\"\0x"[xorshift(&seed) % 8];
        struct sg_content *c = analyse_fed(copy, len);
        sg_content_free(&c);
        free(copy);
    }
    free(text);
}

/* worker - analyse nested.eml repeatedly */
static void *
worker(void *arg)
{
    const char *text = arg;
    for (int i = 0; i < 20; i++) {
        struct sg_content *c = analyse_limit(text, strlen(text), 1 << 20, "/tmp");
        check_nested(c);
        sg_content_free(&c);
    }
    return NULL;
}

/* test_threads - analyses in parallel threads give the same answers */
static void
test_threads(void **state)
{
    (void)state;
    size_t len;
    char *text = read_data("nested.eml", &len);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, text), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    free(text);
}

/* test_from_still_works - the older entry point is unchanged */
static void
test_from_still_works(void **state)
{
    (void)state;
    char *addr;
    assert_int_equal(sg_mime_from(" =?UTF-8?Q?M=C3=BCller?= <m@example.nl>", &addr), SG_FROM_ONE);
    assert_string_equal(addr, "m@example.nl");
    free(addr);
    assert_int_equal(sg_mime_from(" a@example.nl, b@example.nl", &addr), SG_FROM_MULTIPLE);
    assert_null(addr);
}

/* test_from_via - the From of a message sent on behalf of its author: the
 * author's name (or address) "via" the relay, quoted or encoded as needed,
 * always one printable ASCII line with exactly the relay address */
static void
test_from_via(void **state)
{
    (void)state;
    static const struct {
        const char *from, *want; /* want NULL: no rewrite */
    } rows[] = {
        {" \"Bakkerij Jansen\" <factuur@mijnbakkerij.nl>",
         " \"Bakkerij Jansen via relay.example\" <relay@relay.example>"},
        {" Jansen <factuur@mijnbakkerij.nl>", " \"Jansen via relay.example\" <relay@relay.example>"},
        {" factuur@mijnbakkerij.nl",
         " \"factuur@mijnbakkerij.nl via relay.example\" <relay@relay.example>"},
        {" <factuur@mijnbakkerij.nl>",
         " \"factuur@mijnbakkerij.nl via relay.example\" <relay@relay.example>"},
        {" factuur@mijnbakkerij.nl (Bakkerij\tJansen)",
         " \"Bakkerij Jansen via relay.example\" <relay@relay.example>"},
        {" a@example.nl, b@example.nl", NULL},
        {" ", NULL},
        /* An unclosed comment: malformed, and GMime 3.2.13 leaks on it. */
        {" factuur@mijnbakkerij.nl (Bakkerij", NULL},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        char *via = sg_mime_from_via(rows[i].from, "relay@relay.example", "relay.example");
        if (rows[i].want == NULL ? via != NULL : via == NULL || strcmp(via, rows[i].want) != 0)
            fail_msg("row %zu: got [%s], want [%s]", i, via ? via : "(null)",
                     rows[i].want ? rows[i].want : "(null)");
        free(via);
    }
    char *addr;
    assert_int_equal(sg_mime_from(" factuur@mijnbakkerij.nl (Bakkerij", &addr), SG_FROM_NONE);
    assert_int_equal(sg_mime_from(" \"(not a comment\" <a@example.nl>", &addr), SG_FROM_ONE);
    free(addr);

    /* A long or broken name: cut, made UTF-8, encoded; still one short line. */
    char long_name[1200];
    memset(long_name, 'x', sizeof(long_name));
    memcpy(long_name, " \"\xf8\xff", 4);
    snprintf(long_name + 1000, sizeof(long_name) - 1000, "\" <a@example.nl>");
    char *via = sg_mime_from_via(long_name, "relay@relay.example", "relay.example");
    assert_non_null(via);
    assert_true(strlen(via) < 998);
    for (const char *p = via; *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    assert_int_equal(sg_mime_from(via, &addr), SG_FROM_ONE);
    assert_string_equal(addr, "relay@relay.example");
    free(addr);
    free(via);
}

/* setup - GMime once */
static int
setup(void **state)
{
    (void)state;
    sg_mime_init();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_parts),
        cmocka_unit_test(test_header_words),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_spooled_to_disk),
        cmocka_unit_test(test_alternative),
        cmocka_unit_test(test_encoded_rfc822),
        cmocka_unit_test(test_attachment_names),
        cmocka_unit_test(test_encrypted_archives),
        cmocka_unit_test(test_large_attachment),
        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_many_parts),
        cmocka_unit_test(test_malformation_limit),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_from_still_works),
        cmocka_unit_test(test_from_via),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
