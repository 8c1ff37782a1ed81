/*
 * archive.h - encrypted-archive detection from an attachment's first and
 * last bytes.
 */
#ifndef SG_ARCHIVE_H
#define SG_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

/* sg_archive_encrypted - true for a ZIP, 7z or RAR archive with encrypted
 * entries or headers.  head: the first bytes (hl of them), tail: the last
 * bytes (tl), total: the attachment's whole size. */
bool sg_archive_encrypted(const unsigned char *head, size_t hl, const unsigned char *tail,
                          size_t tl, size_t total);

#endif
