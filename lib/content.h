/*
 * content.h - what a message says, as the scorer needs it: decoded text of
 * every text part (UTF-8), the links in its HTML, its attachments, decoded
 * header words, and what was malformed.  Produced by sg_mime_analyse (mime.h)
 * from a struct sg_msg; plain data, owned by the caller, freed with
 * sg_content_free.  No GMime types here.
 */
#ifndef SG_CONTENT_H
#define SG_CONTENT_H

#include "common.h"

enum sg_part_kind { SG_PART_PLAIN, SG_PART_HTML };

/* One text/plain or text/html part, decoded (transfer encoding and charset)
 * to UTF-8.  For HTML, text is the visible text (tags, scripts, styles and
 * comments removed, entities decoded). */
struct sg_text_part {
    enum sg_part_kind kind;
    char *text;       /* UTF-8, NUL-terminated */
    size_t text_len;
    bool in_alternative; /* inside a multipart/alternative with another text part */
};

/* A link in an HTML part: what the reader sees and where it goes. */
struct sg_link {
    char *text; /* visible text of the <a> element, UTF-8, whitespace collapsed */
    char *href; /* target as written (entities decoded) */
};

/* A part that is not shown as text: attachments and inline non-text parts. */
struct sg_attachment {
    char *filename;     /* decoded (RFC 2047 / RFC 2231), "" when none */
    char *content_type; /* declared, lower case, e.g. "application/pdf" */
    size_t size;        /* decoded size in bytes */
    bool encrypted;     /* an archive whose entries are encrypted (zip flag, 7z/rar headers) */
};

/* Something structurally wrong with the message (a finding of its own). */
struct sg_malformation {
    char *what; /* one line for the admin, e.g. "multipart without boundary" */
};

struct sg_content {
    char *subject;      /* decoded RFC 2047, UTF-8; NULL when absent */
    char *from_display; /* decoded display name of the From address; NULL when none */
    char *from_addr;    /* address of the (first) From mailbox; NULL when none */
    char *reply_to_addr; /* first Reply-To address; NULL when none */
    size_t n_visible_rcpts; /* addresses in To and Cc */
    bool has_date, has_message_id;
    long long date;     /* Date header as seconds since the epoch; valid when has_date */

    struct sg_text_part *parts;
    size_t nparts;
    struct sg_link *links;
    size_t nlinks;
    struct sg_attachment *attachments;
    size_t nattachments;
    struct sg_malformation *malformations;
    size_t nmalformations;
    size_t n_images; /* parts of type image, inline or attached */
};

/* sg_content_free - free everything and set *content to NULL (NULL-safe) */
void sg_content_free(struct sg_content **content);

#endif
