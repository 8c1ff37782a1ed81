/*
 * mime.c - GMime wrapper: From header addresses, and the analysis of a
 * whole message for content scoring.
 *
 * sg_mime_analyse rebuilds the message text from the fields and body spool
 * of a struct sg_msg into one buffer (the only copy of the body: GMime's
 * parts are substreams of it), lets GMime parse it, and walks the MIME tree
 * itself, with its own depth and part limits.  Parts are decoded in chunks
 * through GMime's filters, so a large attachment is never held decoded:
 * only its size, its first bytes and its last bytes are kept, enough to
 * tell an encrypted archive.  GMime's parser warnings and what the walk
 * notices itself (bad base64 or quoted-printable, unknown charsets, ...)
 * become malformations.  All strings handed out are malloc'd UTF-8.
 */
#include "mime.h"

#include "archive.h"

#include "html.h"

#include <errno.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* init - GMime's global setup */
static void
init(void)
{
    g_mime_init();
}

/* sg_mime_init - initialise GMime once */
void
sg_mime_init(void)
{
    pthread_once(&init_once, init);
}

/* count_mailboxes - mailboxes in a list, descending into groups; the first one is kept */
static int
count_mailboxes(InternetAddressList *list, InternetAddressMailbox **first_r)
{
    int n = 0;
    for (int i = 0; i < internet_address_list_length(list); i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(ia)) {
            n += count_mailboxes(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
                                 first_r);
        } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            if (n == 0 && *first_r == NULL)
                *first_r = INTERNET_ADDRESS_MAILBOX(ia);
            n++;
        }
    }
    return n;
}

/* comments_closed - does every "(" outside quoted strings have its ")"?
 * GMime 3.2.13 leaks the address it parsed before an unclosed comment
 * (its issue #159, fixed after Debian 12's version); such a field is
 * malformed anyway, so it is not handed to GMime at all. */
static bool
comments_closed(const char *value)
{
    int depth = 0;
    bool quoted = false;
    for (const char *p = value; *p; p++) {
        if (*p == '\\' && p[1] != '\0')
            p++;
        else if (*p == '"' && depth == 0)
            quoted = !quoted;
        else if (*p == '(' && !quoted)
            depth++;
        else if (*p == ')' && !quoted && depth > 0)
            depth--;
    }
    return depth == 0;
}

/* parse_addresses - GMime's address list of a header value, or NULL */
static InternetAddressList *
parse_addresses(const char *value)
{
    sg_mime_init();
    return comments_closed(value) ? internet_address_list_parse(NULL, value) : NULL;
}

/* sg_mime_from - exactly one mailbox, or why not */
enum sg_from_status
sg_mime_from(const char *value, char **addr_r)
{
    *addr_r = NULL;
    InternetAddressList *list = parse_addresses(value);
    if (list == NULL)
        return SG_FROM_NONE;
    InternetAddressMailbox *first = NULL;
    int n = count_mailboxes(list, &first);
    enum sg_from_status st = n == 0 ? SG_FROM_NONE : n == 1 ? SG_FROM_ONE : SG_FROM_MULTIPLE;
    if (st == SG_FROM_ONE) {
        /* The ASCII (punycode) form: keys are configured for xn-- names. */
        const char *addr = internet_address_mailbox_get_idn_addr(first);
        if (addr == NULL || strchr(addr, '@') == NULL)
            st = SG_FROM_NONE;
        else
            *addr_r = sg_xstrdup(addr);
    }
    g_object_unref(list);
    return st;
}

/* Longest original display name kept in a rewritten From, in bytes: the
 * field must stay well within a line (RFC 5322: 998 characters). */
#define VIA_NAME_MAX 200

/* sg_mime_from_via - "Name via relay" <relay address> */
char *
sg_mime_from_via(const char *from_value, const char *relay_addr, const char *relay_domain)
{
    InternetAddressList *list = parse_addresses(from_value);
    if (list == NULL)
        return NULL;
    InternetAddressMailbox *first = NULL;
    char *out = NULL;
    if (count_mailboxes(list, &first) == 1) {
        const char *name = internet_address_get_name(INTERNET_ADDRESS(first));
        if (name == NULL || name[strspn(name, " \t")] == '\0')
            name = internet_address_mailbox_get_addr(first);
        /* Raw 8-bit that is not UTF-8 would go out unencoded: make it UTF-8. */
        gchar *valid = g_utf8_make_valid(name, -1);
        size_t len = strlen(valid);
        if (len > VIA_NAME_MAX) { /* cut on a UTF-8 character boundary */
            len = VIA_NAME_MAX;
            while (len > 0 && ((unsigned char)valid[len] & 0xC0) == 0x80)
                len--;
        }
        char *via = sg_xasprintf("%.*s via %s", (int)len, valid, relay_domain);
        g_free(valid);
        for (char *p = via; *p; p++) /* tabs and controls from comments or encoded words */
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
        InternetAddress *ia = internet_address_mailbox_new(via, relay_addr);
        char *text = internet_address_to_string(ia, NULL, TRUE);
        out = sg_xasprintf(" %s", text);
        g_free(text);
        g_object_unref(ia);
        free(via);
    }
    g_object_unref(list);
    return out;
}

/* sg_addr_domain - lower-cased domain part */
char *
sg_addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    if (at == NULL || at[1] == '\0')
        return NULL;
    char *d = sg_str_lower(sg_xstrdup(at + 1));
    size_t len = strlen(d);
    while (len > 0 && (d[len - 1] == '.' || d[len - 1] == '>' || d[len - 1] == ' '))
        d[--len] = '\0';
    if (len == 0) {
        free(d);
        return NULL;
    }
    return d;
}

/* ---- message analysis ---- */

/* Bytes read from a part's raw content at a time. */
#define CHUNK 65536
/* Decoded bytes kept from the start and the end of an attachment. */
#define HEAD_KEEP 4096
#define TAIL_KEEP (128 * 1024)

struct analysis {
    struct sg_content *c;
    size_t parts_cap, links_cap, atts_cap, mals_cap;
    GMimeParserOptions *opts;
    size_t nodes;            /* MIME parts visited */
    bool too_deep, too_many; /* reported once each */
};

/* malformed - record one finding, unless it is already listed or the list is full */
static void malformed(struct analysis *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
malformed(struct analysis *a, const char *fmt, ...)
{
    struct sg_content *c = a->c;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < c->nmalformations; i++)
        if (strcmp(c->malformations[i].what, line) == 0)
            return;
    if (c->nmalformations > SG_MIME_MAX_MALFORMATIONS)
        return;
    if (c->nmalformations == SG_MIME_MAX_MALFORMATIONS)
        sg_strlcpy(line, "more malformations than are listed", sizeof(line));
    if (c->nmalformations == a->mals_cap) {
        a->mals_cap = a->mals_cap ? a->mals_cap * 2 : 4;
        c->malformations = sg_xrealloc(c->malformations, a->mals_cap * sizeof(*c->malformations));
    }
    c->malformations[c->nmalformations++].what = sg_xstrdup(line);
}

/* printable - s (from the message) fit for one log line: ASCII, no controls, at most 60 bytes */
static const char *
printable(const char *s, char *buf, size_t size)
{
    size_t o = 0;
    for (; s != NULL && *s != '\0' && o + 1 < size && o < 60; s++) {
        unsigned char ch = (unsigned char)*s;
        buf[o++] = ch < 0x20 || ch >= 0x7F ? '?' : (char)ch;
    }
    buf[o] = '\0';
    return buf;
}

/* on_warning - GMime's parser found something wrong: say it for the admin */
static void
on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
    struct analysis *a = data;
    char it[64];
    printable(item, it, sizeof(it));
    (void)offset;
    switch (code) {
    case GMIME_WARN_DUPLICATED_HEADER:
        malformed(a, "header field %s appears more than once", it);
        break;
    case GMIME_CRIT_CONFLICTING_HEADER:
        malformed(a, "header field %s appears more than once with different values", it);
        break;
    case GMIME_WARN_DUPLICATED_PARAMETER:
    case GMIME_CRIT_CONFLICTING_PARAMETER:
        malformed(a, "header parameter %s appears more than once", it);
        break;
    case GMIME_WARN_UNENCODED_8BIT_HEADER:
        malformed(a, "header field %s has 8-bit characters that are not RFC 2047 encoded", it);
        break;
    case GMIME_WARN_INVALID_CONTENT_TYPE:
        malformed(a, "invalid Content-Type \"%s\"", it);
        break;
    case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE:
        malformed(a, "invalid RFC 2047 encoded word in a header field");
        break;
    case GMIME_WARN_INVALID_PARAMETER:
        malformed(a, "invalid header parameter \"%s\"", it);
        break;
    case GMIME_WARN_INVALID_ADDRESS_LIST:
        malformed(a, "invalid address list \"%s\"", it);
        break;
    case GMIME_WARN_MALFORMED_MULTIPART:
        malformed(a, "multipart/%s ends without its closing boundary", it);
        break;
    case GMIME_WARN_TRUNCATED_MESSAGE:
        malformed(a, "message ends inside a multipart: closing boundary missing");
        break;
    case GMIME_WARN_MALFORMED_MESSAGE:
        malformed(a, "message structure is broken; analysed as far as it could be read");
        break;
    case GMIME_CRIT_INVALID_HEADER_NAME:
        malformed(a, "invalid header field name \"%s\"", it);
        break;
    case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
        malformed(a, "multipart/%s without a boundary parameter: its parts cannot be told apart",
                  it);
        break;
    case GMIME_CRIT_NESTING_OVERFLOW:
        malformed(a, "MIME nesting deeper than the parser allows");
        break;
    case GMIME_WARN_PART_WITHOUT_CONTENT:
    case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT:
        malformed(a, "MIME part without content");
        break;
    default:
        malformed(a, "MIME parser warning %d", (int)code);
        break;
    }
}

/* utf8_dup - a malloc'd copy of len bytes as valid UTF-8 (invalid bytes and NULs become U+FFFD) */
static char *
utf8_dup(const char *s, size_t len, size_t *len_r)
{
    char *v = g_utf8_make_valid(s, (gssize)len);
    size_t n = strlen(v);
    char *d = sg_xstrndup(v, n);
    g_free(v);
    if (len_r != NULL)
        *len_r = n;
    return d;
}

/* first_mailbox - the first mailbox of a list, looking into groups; NULL when none */
static InternetAddressMailbox *
first_mailbox(InternetAddressList *list)
{
    InternetAddressMailbox *first = NULL;
    if (list != NULL)
        (void)count_mailboxes(list, &first);
    return first;
}

/* header_words - subject, From, Reply-To, recipients, Date and Message-ID */
static void
header_words(struct analysis *a, GMimeMessage *m, struct sg_msg *msg)
{
    struct sg_content *c = a->c;
    /* The first Subject, as sg_msg_header_find sees it (GMime keeps the last). */
    const char *raw_subject = sg_msg_header_find(msg, "Subject", NULL);
    if (raw_subject != NULL) {
        char *unfolded = g_mime_utils_header_unfold(raw_subject);
        char *subject = g_mime_utils_header_decode_text(a->opts, unfolded);
        if (subject != NULL) {
            g_strstrip(subject);
            c->subject = utf8_dup(subject, strlen(subject), NULL);
            g_free(subject);
        }
        g_free(unfolded);
    }
    InternetAddressMailbox *from = first_mailbox(g_mime_message_get_from(m));
    if (from != NULL) {
        const char *name = internet_address_get_name(INTERNET_ADDRESS(from));
        const char *addr = internet_address_mailbox_get_addr(from);
        if (name != NULL && *name != '\0')
            c->from_display = utf8_dup(name, strlen(name), NULL);
        if (addr != NULL && *addr != '\0')
            c->from_addr = utf8_dup(addr, strlen(addr), NULL);
    }
    InternetAddressMailbox *reply = first_mailbox(g_mime_message_get_reply_to(m));
    const char *raddr = reply ? internet_address_mailbox_get_addr(reply) : NULL;
    if (raddr != NULL && *raddr != '\0')
        c->reply_to_addr = utf8_dup(raddr, strlen(raddr), NULL);
    InternetAddressMailbox *unused = NULL;
    InternetAddressList *to = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_TO);
    InternetAddressList *cc = g_mime_message_get_addresses(m, GMIME_ADDRESS_TYPE_CC);
    c->n_visible_rcpts = (size_t)(to ? count_mailboxes(to, &unused) : 0) +
                         (size_t)(cc ? count_mailboxes(cc, &unused) : 0);
    GDateTime *date = g_mime_message_get_date(m);
    if (date != NULL) {
        c->has_date = true;
        c->date = (long long)g_date_time_to_unix(date);
    } else {
        const char *raw = sg_msg_header_find(msg, "Date", NULL);
        char it[64];
        if (raw != NULL)
            malformed(a, "Date header field cannot be parsed: \"%s\"",
                      printable(raw + strspn(raw, " \t"), it, sizeof(it)));
    }
    const char *mid = sg_msg_header_find(msg, "Message-ID", NULL);
    c->has_message_id = mid != NULL && mid[strspn(mid, " \t\r\n")] != '\0';
    if (sg_msg_header_find(msg, "MIME-Version", NULL) == NULL &&
        (sg_msg_header_find(msg, "Content-Type", NULL) != NULL ||
         sg_msg_header_find(msg, "Content-Transfer-Encoding", NULL) != NULL))
        malformed(a, "MIME header fields without MIME-Version: receivers may not decode the body");
}

/* describe - "the text/html part" or "the application/pdf part "x.pdf"", for a finding */
static const char *
describe(GMimeObject *obj, char *buf, size_t size)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    char *mime = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
    const char *fname = GMIME_IS_PART(obj) ? g_mime_part_get_filename(GMIME_PART(obj)) : NULL;
    char t[64], f[64];
    sg_str_lower((char *)printable(mime ? mime : "?", t, sizeof(t)));
    if (fname != NULL && *fname != '\0')
        snprintf(buf, size, "the %s part \"%s\"", t, printable(fname, f, sizeof(f)));
    else
        snprintf(buf, size, "the %s part", t);
    g_free(mime);
    return buf;
}

typedef void sink_fn(const char *data, size_t len, void *arg);

/* What a part's encoded content looked like while it was decoded. */
struct enc_check {
    size_t b64_chars, b64_pads;
    bool bad;
    int qp_state; /* 0 text, 1 after '=', 2 after '=' and a hex digit, 3 after '=' and blanks */
};

static bool
is_hex(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* check_base64 - characters base64 does not allow, data after padding */
static void
check_base64(struct enc_check *k, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '+' || ch == '/') {
            k->bad |= k->b64_pads > 0;
            k->b64_chars++;
        } else if (ch == '=') {
            k->b64_pads++;
        } else if (ch != '\r' && ch != '\n' && ch != ' ' && ch != '\t') {
            k->bad = true;
        }
    }
}

/* check_qp - '=' must start =XX or a soft line break */
static void
check_qp(struct enc_check *k, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        bool blank = ch == ' ' || ch == '\t', eol = ch == '\r' || ch == '\n';
        switch (k->qp_state) {
        case 0:
            k->qp_state = ch == '=';
            continue;
        case 1:
            if (is_hex(ch) || eol || blank) {
                k->qp_state = is_hex(ch) ? 2 : blank ? 3 : 0;
                continue;
            }
            break;
        case 2:
            if (is_hex(ch)) {
                k->qp_state = 0;
                continue;
            }
            break;
        default:
            if (eol || blank) {
                k->qp_state = blank ? 3 : 0;
                continue;
            }
            break;
        }
        k->bad = true;
        k->qp_state = ch == '=';
    }
}

/* decode - the content of part with its transfer encoding undone, to sink in
 * chunks; base64 and quoted-printable that do not decode cleanly are recorded */
static void
decode(struct analysis *a, GMimePart *part, sink_fn *sink, void *arg)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    GMimeStream *raw = w ? g_mime_data_wrapper_get_stream(w) : NULL;
    if (raw == NULL)
        return;
    GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(w);
    GMimeFilter *f = NULL;
    if (enc == GMIME_CONTENT_ENCODING_BASE64 || enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
        enc == GMIME_CONTENT_ENCODING_UUENCODE)
        f = g_mime_filter_basic_new(enc, FALSE);
    struct enc_check k = {0};
    char *buf = sg_xmalloc(CHUNK), *out;
    size_t outlen, outpre;
    g_mime_stream_reset(raw);
    for (;;) {
        ssize_t n = g_mime_stream_read(raw, buf, CHUNK);
        if (n <= 0)
            break;
        if (enc == GMIME_CONTENT_ENCODING_BASE64)
            check_base64(&k, (const unsigned char *)buf, (size_t)n);
        else if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE)
            check_qp(&k, (const unsigned char *)buf, (size_t)n);
        if (f == NULL) {
            sink(buf, (size_t)n, arg);
            continue;
        }
        g_mime_filter_filter(f, buf, (size_t)n, 0, &out, &outlen, &outpre);
        sink(out, outlen, arg);
    }
    if (f != NULL) {
        g_mime_filter_complete(f, buf, 0, 0, &out, &outlen, &outpre);
        sink(out, outlen, arg);
        g_object_unref(f);
    }
    g_mime_stream_reset(raw);
    free(buf);
    char what[160];
    if (enc == GMIME_CONTENT_ENCODING_BASE64 && (k.bad || k.b64_pads > 2))
        malformed(a, "base64 in %s has characters base64 does not allow",
                  describe(GMIME_OBJECT(part), what, sizeof(what)));
    else if (enc == GMIME_CONTENT_ENCODING_BASE64 && (k.b64_chars + k.b64_pads) % 4 != 0)
        malformed(a, "base64 in %s is truncated", describe(GMIME_OBJECT(part), what, sizeof(what)));
    if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE && (k.bad || k.qp_state == 2))
        malformed(a, "quoted-printable in %s has invalid =XX escapes",
                  describe(GMIME_OBJECT(part), what, sizeof(what)));
}

/* append_bytes - sink into a GByteArray */
static void
append_bytes(const char *data, size_t len, void *arg)
{
    g_byte_array_append(arg, (const guint8 *)data, (guint)len);
}

/* convert - data from charset to UTF-8 with GMime's charset filter (invalid
 * input is skipped); NULL when the charset is unknown.  Caller frees. */
static GByteArray *
convert(const char *charset, char *data, size_t len)
{
    GMimeFilter *f = g_mime_filter_charset_new(charset, "UTF-8");
    if (f == NULL)
        return NULL;
    GByteArray *ba = g_byte_array_new();
    char *out;
    size_t outlen, outpre;
    g_mime_filter_filter(f, data, len, 0, &out, &outlen, &outpre);
    g_byte_array_append(ba, (const guint8 *)out, (guint)outlen);
    g_mime_filter_complete(f, data + len, 0, 0, &out, &outlen, &outpre);
    g_byte_array_append(ba, (const guint8 *)out, (guint)outlen);
    g_object_unref(f);
    return ba;
}

/* best_effort - text in no known charset: UTF-8 when it is valid UTF-8, else windows-1252
 * (a superset of ISO-8859-1 and what mislabelled text usually is) */
static char *
best_effort(char *data, size_t len, size_t *len_r)
{
    if (g_utf8_validate(data, (gssize)len, NULL))
        return utf8_dup(data, len, len_r);
    GByteArray *ba = convert("windows-1252", data, len);
    if (ba == NULL)
        return utf8_dup(data, len, len_r);
    char *s = utf8_dup((const char *)ba->data, ba->len, len_r);
    g_byte_array_free(ba, TRUE);
    return s;
}

/* to_utf8 - decoded text of obj (len bytes in its declared charset) as UTF-8 (caller frees) */
static char *
to_utf8(struct analysis *a, GMimeObject *obj, char *data, size_t len, size_t *len_r)
{
    char what[160];
    if (len == 0) {
        *len_r = 0;
        return sg_xstrdup("");
    }
    const char *cs =
        g_mime_content_type_get_parameter(g_mime_object_get_content_type(obj), "charset");
    bool eight = false;
    for (size_t i = 0; i < len && !eight; i++)
        eight = (unsigned char)data[i] >= 0x80;
    if (cs == NULL || *cs == '\0' || g_ascii_strcasecmp(cs, "us-ascii") == 0 ||
        g_ascii_strcasecmp(cs, "ascii") == 0) {
        if (eight)
            malformed(a, "8-bit text in %s without a charset that allows it",
                      describe(obj, what, sizeof(what)));
        return best_effort(data, len, len_r);
    }
    if (g_ascii_strcasecmp(cs, "utf-8") == 0 || g_ascii_strcasecmp(cs, "utf8") == 0) {
        if (!g_utf8_validate(data, (gssize)len, NULL))
            malformed(a, "invalid UTF-8 in %s", describe(obj, what, sizeof(what)));
        return utf8_dup(data, len, len_r);
    }
    GByteArray *ba = convert(cs, data, len);
    if (ba == NULL) {
        char c[64];
        malformed(a, "unknown charset \"%s\" in %s; read as best effort",
                  printable(cs, c, sizeof(c)), describe(obj, what, sizeof(what)));
        return best_effort(data, len, len_r);
    }
    char *s = utf8_dup((const char *)ba->data, ba->len, len_r);
    g_byte_array_free(ba, TRUE);
    return s;
}

/* add_part - a new, zeroed text part */
static struct sg_text_part *
add_part(struct analysis *a)
{
    struct sg_content *c = a->c;
    if (c->nparts == a->parts_cap) {
        a->parts_cap = a->parts_cap ? a->parts_cap * 2 : 4;
        c->parts = sg_xrealloc(c->parts, a->parts_cap * sizeof(*c->parts));
    }
    struct sg_text_part *tp = &c->parts[c->nparts++];
    memset(tp, 0, sizeof(*tp));
    return tp;
}

/* text_part - a text/plain or text/html part, decoded; HTML reduced to visible text and links */
static void
text_part(struct analysis *a, GMimePart *part, bool html)
{
    GByteArray *ba = g_byte_array_new();
    decode(a, part, append_bytes, ba);
    size_t len;
    char *text = to_utf8(a, GMIME_OBJECT(part), (char *)ba->data, ba->len, &len);
    g_byte_array_free(ba, TRUE);
    struct sg_text_part *tp = add_part(a);
    tp->kind = html ? SG_PART_HTML : SG_PART_PLAIN;
    if (!html) {
        size_t o = 0; /* CRLF to LF: one line end for the scorer's patterns */
        for (size_t i = 0; i < len; i++)
            if (text[i] != '\r' || i + 1 >= len || text[i + 1] != '\n')
                text[o++] = text[i];
        text[o] = '\0';
        tp->text = text;
        tp->text_len = o;
        return;
    }
    struct sg_html h;
    sg_html_parse(text, len, &h);
    free(text);
    tp->text = h.text;
    tp->text_len = h.text_len;
    struct sg_content *c = a->c;
    if (c->nlinks + h.nlinks > a->links_cap) {
        while (a->links_cap < c->nlinks + h.nlinks)
            a->links_cap = a->links_cap ? a->links_cap * 2 : 8;
        c->links = sg_xrealloc(c->links, a->links_cap * sizeof(*c->links));
    }
    if (h.nlinks > 0)
        memcpy(c->links + c->nlinks, h.links, h.nlinks * sizeof(*h.links));
    c->nlinks += h.nlinks;
    free(h.links);
}

/* An attachment as it is decoded: its size, first bytes and last bytes. */
struct sniff {
    size_t total;
    unsigned char head[HEAD_KEEP];
    size_t head_len;
    unsigned char *ring; /* the last TAIL_KEEP bytes; the oldest at ring_pos once full */
    size_t ring_pos;
};

/* sniff_bytes - sink that keeps the head and the tail */
static void
sniff_bytes(const char *data, size_t len, void *arg)
{
    struct sniff *s = arg;
    const unsigned char *p = (const unsigned char *)data;
    s->total += len;
    if (s->head_len < HEAD_KEEP) {
        size_t k = len < HEAD_KEEP - s->head_len ? len : HEAD_KEEP - s->head_len;
        memcpy(s->head + s->head_len, p, k);
        s->head_len += k;
    }
    if (len >= TAIL_KEEP) {
        memcpy(s->ring, p + len - TAIL_KEEP, TAIL_KEEP);
        s->ring_pos = 0;
        return;
    }
    size_t k = len < TAIL_KEEP - s->ring_pos ? len : TAIL_KEEP - s->ring_pos;
    memcpy(s->ring + s->ring_pos, p, k);
    memcpy(s->ring, p + k, len - k);
    s->ring_pos = (s->ring_pos + len) % TAIL_KEEP;
}

/* sniff_tail - the last bytes in order (caller frees); their count in *len_r */
static unsigned char *
sniff_tail(const struct sniff *s, size_t *len_r)
{
    size_t n = s->total < TAIL_KEEP ? s->total : TAIL_KEEP;
    unsigned char *t = sg_xmalloc(n ? n : 1);
    if (s->total <= TAIL_KEEP) {
        memcpy(t, s->ring, n);
    } else {
        memcpy(t, s->ring + s->ring_pos, TAIL_KEEP - s->ring_pos);
        memcpy(t + TAIL_KEEP - s->ring_pos, s->ring, s->ring_pos);
    }
    *len_r = n;
    return t;
}

/* archive_encrypted - is this a ZIP, 7z or RAR archive with encrypted entries or headers? */
static bool
archive_encrypted(const struct sniff *s)
{
    size_t tl;
    unsigned char *t = sniff_tail(s, &tl);
    bool enc = sg_archive_encrypted(s->head, s->head_len, t, tl, s->total);
    free(t);
    return enc;
}

/* add_attachment - a new attachment for obj: file name and declared type; size 0 */
static struct sg_attachment *
add_attachment(struct analysis *a, GMimeObject *obj)
{
    struct sg_content *c = a->c;
    if (c->nattachments == a->atts_cap) {
        a->atts_cap = a->atts_cap ? a->atts_cap * 2 : 4;
        c->attachments = sg_xrealloc(c->attachments, a->atts_cap * sizeof(*c->attachments));
    }
    struct sg_attachment *att = &c->attachments[c->nattachments++];
    memset(att, 0, sizeof(*att));
    const char *name = GMIME_IS_PART(obj) ? g_mime_part_get_filename(GMIME_PART(obj)) : NULL;
    if (name == NULL)
        name = g_mime_object_get_content_disposition_parameter(obj, "filename");
    if (name == NULL)
        name = g_mime_object_get_content_type_parameter(obj, "name");
    att->filename = utf8_dup(name ? name : "", name ? strlen(name) : 0, NULL);
    char *mime = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj));
    att->content_type = sg_str_lower(utf8_dup(mime, strlen(mime), NULL));
    g_free(mime);
    return att;
}

/* is_attached - Content-Disposition: attachment */
static bool
is_attached(GMimeObject *obj)
{
    GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
    return d != NULL && g_mime_content_disposition_is_attachment(d);
}

/* is_message - a message/rfc822 type (or its relatives GMime also parses as messages) */
static bool
is_message(GMimeContentType *ct)
{
    return g_mime_content_type_is_type(ct, "message", "rfc822") ||
           g_mime_content_type_is_type(ct, "message", "global") ||
           g_mime_content_type_is_type(ct, "message", "news");
}

static void walk(struct analysis *a, GMimeObject *obj, int depth);

/* encoded_message - a message/rfc822 part whose content is base64 or quoted-printable:
 * GMime leaves it a leaf, so decode and parse it here */
static void
encoded_message(struct analysis *a, GMimePart *part, int depth)
{
    GByteArray *ba = g_byte_array_new();
    decode(a, part, append_bytes, ba);
    if (is_attached(GMIME_OBJECT(part)))
        add_attachment(a, GMIME_OBJECT(part))->size = ba->len;
    GMimeStream *stream = g_mime_stream_mem_new_with_byte_array(ba);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    GMimeMessage *m = g_mime_parser_construct_message(parser, a->opts);
    g_object_unref(parser);
    g_object_unref(stream);
    if (m == NULL) {
        malformed(a, "an attached message cannot be parsed");
        return;
    }
    walk(a, g_mime_message_get_mime_part(m), depth + 1);
    g_object_unref(m);
}

/* leaf - one part that is not a container: text, embedded message, or attachment */
static void
leaf(struct analysis *a, GMimePart *part, int depth)
{
    GMimeObject *obj = GMIME_OBJECT(part);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    bool attached = is_attached(obj);
    const char *cte = g_mime_object_get_header(obj, "Content-Transfer-Encoding");
    if (cte != NULL && g_mime_content_encoding_from_string(cte) == GMIME_CONTENT_ENCODING_DEFAULT) {
        char e[64], what[160];
        malformed(a, "unknown Content-Transfer-Encoding \"%s\" in %s; content read undecoded",
                  printable(cte + strspn(cte, " \t"), e, sizeof(e)),
                  describe(obj, what, sizeof(what)));
    }
    if (g_mime_content_type_is_type(ct, "image", "*"))
        a->c->n_images++;
    if (!attached && g_mime_content_type_is_type(ct, "text", "plain")) {
        text_part(a, part, false);
    } else if (!attached && g_mime_content_type_is_type(ct, "text", "html")) {
        text_part(a, part, true);
    } else if (is_message(ct)) {
        encoded_message(a, part, depth);
    } else {
        struct sniff s = {.ring = sg_xmalloc(TAIL_KEEP)};
        decode(a, part, sniff_bytes, &s);
        struct sg_attachment *att = add_attachment(a, obj);
        att->size = s.total;
        att->encrypted = archive_encrypted(&s);
        free(s.ring);
    }
}

/* message_part - an embedded message (message/rfc822): an attachment if marked so, and its parts */
static void
message_part(struct analysis *a, GMimeMessagePart *mp, int depth)
{
    GMimeObject *obj = GMIME_OBJECT(mp);
    GMimeMessage *m = g_mime_message_part_get_message(mp);
    if (is_attached(obj)) {
        struct sg_attachment *att = add_attachment(a, obj);
        if (m != NULL) {
            GMimeStream *null = g_mime_stream_null_new();
            ssize_t n = g_mime_object_write_to_stream(GMIME_OBJECT(m), NULL, null);
            att->size = n > 0 ? (size_t)n : 0;
            g_object_unref(null);
        }
    }
    if (m == NULL || g_mime_message_get_mime_part(m) == NULL) {
        malformed(a, "empty message/rfc822 part");
        return;
    }
    walk(a, g_mime_message_get_mime_part(m), depth + 1);
}

/* multipart - the parts in order; text parts of an alternative with more than one are marked */
static void
multipart(struct analysis *a, GMimeMultipart *mp, int depth)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(mp));
    int n = g_mime_multipart_get_count(mp);
    if (n == 0 && g_mime_content_type_get_parameter(ct, "boundary") != NULL) {
        char st[64];
        malformed(a, "multipart/%s has no parts",
                  sg_str_lower((char *)printable(g_mime_content_type_get_media_subtype(ct), st,
                                                 sizeof(st))));
    }
    size_t first = a->c->nparts;
    for (int i = 0; i < n; i++)
        walk(a, g_mime_multipart_get_part(mp, i), depth + 1);
    if (g_mime_content_type_is_type(ct, "multipart", "alternative") && a->c->nparts - first >= 2)
        for (size_t i = first; i < a->c->nparts; i++)
            a->c->parts[i].in_alternative = true;
}

/* walk - one MIME part at a nesting depth (0 for the message's own body) */
static void
walk(struct analysis *a, GMimeObject *obj, int depth)
{
    if (obj == NULL)
        return;
    if (++a->nodes > SG_MIME_MAX_PARTS) {
        if (!a->too_many)
            malformed(a, "more than %d MIME parts; the rest were not analysed", SG_MIME_MAX_PARTS);
        a->too_many = true;
        return;
    }
    bool container = GMIME_IS_MULTIPART(obj) || GMIME_IS_MESSAGE_PART(obj) ||
                     (GMIME_IS_PART(obj) && is_message(g_mime_object_get_content_type(obj)));
    if (container && depth >= SG_MIME_MAX_DEPTH) {
        if (!a->too_deep)
            malformed(a,
                      "MIME parts nested deeper than %d levels; the deeper parts were not analysed",
                      SG_MIME_MAX_DEPTH);
        a->too_deep = true;
        return;
    }
    if (GMIME_IS_MULTIPART(obj))
        multipart(a, GMIME_MULTIPART(obj), depth);
    else if (GMIME_IS_MESSAGE_PART(obj))
        message_part(a, GMIME_MESSAGE_PART(obj), depth);
    else if (GMIME_IS_PART(obj))
        leaf(a, GMIME_PART(obj), depth);
}

/* add_field - "name:value" CRLF; a line break inside the value stays a folding */
static void
add_field(GByteArray *ba, const char *name, const char *value)
{
    g_byte_array_append(ba, (const guint8 *)name, (guint)strlen(name));
    g_byte_array_append(ba, (const guint8 *)":", 1);
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\r')
            continue;
        if (*p != '\n') {
            g_byte_array_append(ba, (const guint8 *)p, 1);
            continue;
        }
        g_byte_array_append(ba, (const guint8 *)"\r\n", 2);
        if (p[1] != ' ' && p[1] != '\t')
            g_byte_array_append(ba, (const guint8 *)" ", 1);
    }
    g_byte_array_append(ba, (const guint8 *)"\r\n", 2);
}

/* body_stream - the body for GMime without copying a spooled file into memory:
 * the parser keeps parts as windows on a seekable stream (persistent stream),
 * so memory stays bounded by spool_memory_limit whatever the message size */
static GMimeStream *
body_stream(struct sg_spool *body, char **error_r)
{
    int fd = sg_spool_fd(body);
    if (fd < 0) {
        size_t len;
        const void *mem = sg_spool_memory(body, &len);
        return g_mime_stream_mem_new_with_buffer(mem, len);
    }
    int copy = dup(fd);
    if (copy < 0) {
        *error_r = sg_xasprintf("cannot read the spooled message: %s", strerror(errno));
        return NULL;
    }
    return g_mime_stream_fs_new_with_bounds(copy, 0, (gint64)sg_spool_size(body));
}

/* sg_mime_analyse - rebuild, parse, walk */
enum sg_rc
sg_mime_analyse(struct sg_msg *msg, struct sg_content **content_r, char **error_r)
{
    sg_mime_init();
    *content_r = NULL;
    struct sg_spool *body = sg_msg_body(msg);
    size_t nfields = sg_msg_header_count(msg);
    /* The header section is small (message.c bounds it); the body stays where it is. */
    GByteArray *header = g_byte_array_new();
    for (size_t i = 0; i < nfields; i++)
        add_field(header, sg_msg_header_name(msg, i), sg_msg_header_value(msg, i));
    g_byte_array_append(header, (const guint8 *)"\r\n", 2);
    GMimeStream *bs = body_stream(body, error_r);
    if (bs == NULL) {
        g_byte_array_free(header, TRUE);
        return SG_TEMP;
    }
    GMimeStream *stream = g_mime_stream_cat_new();
    GMimeStream *hs = g_mime_stream_mem_new_with_byte_array(header);
    g_mime_stream_cat_add_source(GMIME_STREAM_CAT(stream), hs);
    g_mime_stream_cat_add_source(GMIME_STREAM_CAT(stream), bs);
    g_object_unref(hs);
    g_object_unref(bs);

    struct analysis a = {.c = sg_xcalloc(1, sizeof(*a.c)), .opts = g_mime_parser_options_new()};
    static const char *fallback[] = {"UTF-8", "windows-1252", NULL};
    g_mime_parser_options_set_fallback_charsets(a.opts, fallback);
    g_mime_parser_options_set_warning_callback(a.opts, on_warning, &a);
    if (nfields == 0 && sg_spool_size(body) == 0)
        malformed(&a, "empty message");

    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_persist_stream(parser, TRUE);
    GMimeMessage *m = g_mime_parser_construct_message(parser, a.opts);
    g_object_unref(parser);
    g_object_unref(stream);
    if (m == NULL) {
        malformed(&a, "message cannot be parsed");
    } else {
        header_words(&a, m, msg);
        walk(&a, g_mime_message_get_mime_part(m), 0);
        g_object_unref(m);
    }
    g_mime_parser_options_free(a.opts);
    *content_r = a.c;
    return SG_OK;
}
