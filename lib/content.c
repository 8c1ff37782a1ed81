/*
 * content.c - freeing what sg_mime_analyse produced.
 */
#include "content.h"

#include <stdlib.h>

/* sg_content_free - free all parts, links, attachments and findings */
void
sg_content_free(struct sg_content **cp)
{
    struct sg_content *c = *cp;
    if (c == NULL)
        return;
    free(c->subject);
    free(c->from_display);
    free(c->from_addr);
    free(c->reply_to_addr);
    for (size_t i = 0; i < c->nparts; i++)
        free(c->parts[i].text);
    free(c->parts);
    for (size_t i = 0; i < c->nlinks; i++) {
        free(c->links[i].text);
        free(c->links[i].href);
    }
    free(c->links);
    for (size_t i = 0; i < c->nattachments; i++) {
        free(c->attachments[i].filename);
        free(c->attachments[i].content_type);
    }
    free(c->attachments);
    for (size_t i = 0; i < c->nmalformations; i++)
        free(c->malformations[i].what);
    free(c->malformations);
    free(c);
    *cp = NULL;
}
