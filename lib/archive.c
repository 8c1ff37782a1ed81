/*
 * archive.c - does an attachment look like an archive whose content is
 * encrypted?  Scanners cannot look inside those, so receivers distrust them.
 * Works on the first and last bytes of the decoded attachment only (ZIP local
 * headers and central directory, the 7z end header, RAR4/RAR5 headers).
 * Pure functions of bytes; thread-safe.
 */
#include "archive.h"

#include <stdint.h>
#include <string.h>

static uint32_t
le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
    return le16(p) | le16(p + 2) << 16;
}

static uint64_t
le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* zip_encrypted - general purpose flag bit 0 in a local file header (walked from
 * the start while the head reaches) or in the central directory (from the end) */
static bool
zip_encrypted(const unsigned char *h, size_t hl, const unsigned char *t, size_t tl)
{
    size_t p = 0;
    while (p <= hl && hl - p >= 30 && memcmp(h + p, "PK\3\4", 4) == 0) {
        uint32_t flags = le16(h + p + 6);
        if (flags & 1)
            return true;
        if (flags & 8) /* sizes follow the data: cannot skip it */
            break;
        p += 30 + (size_t)le16(h + p + 26) + le16(h + p + 28) + le32(h + p + 18);
    }
    /* End of central directory: 22 bytes and a comment of up to 65535. */
    for (size_t back = 22; back <= tl && back <= 22 + 65535; back++) {
        size_t e = tl - back;
        if (memcmp(t + e, "PK\5\6", 4) != 0)
            continue;
        size_t cdsize = le32(t + e + 12);
        if (cdsize > e)
            return false;
        for (size_t q = e - cdsize; q <= e && e - q >= 46 && memcmp(t + q, "PK\1\2", 4) == 0;
             q += 46 + (size_t)le16(t + q + 28) + le16(t + q + 30) + le16(t + q + 32))
            if (le16(t + q + 8) & 1)
                return true;
        return false;
    }
    return false;
}

/* sevenzip_encrypted - the (encoded) header at the end names the AES coder (06 F1 07 01):
 * headers encrypted (7z -mhe) or, for a plain header, the data */
static bool
sevenzip_encrypted(const unsigned char *h, size_t hl, const unsigned char *t, size_t tl,
                   size_t total)
{
    static const unsigned char sig[6] = {'7', 'z', 0xBC, 0xAF, 0x27, 0x1C};
    static const unsigned char aes[4] = {0x06, 0xF1, 0x07, 0x01};
    if (hl < 32 || memcmp(h, sig, 6) != 0)
        return false;
    uint64_t off = le64(h + 12), size = le64(h + 20);
    if (off > total || 32 > total - off || size == 0 || size > total - 32 - off)
        return false;
    uint64_t start = 32 + off;
    if (start < total - tl) /* not within the tail we kept */
        return false;
    const unsigned char *nh = t + (start - (total - tl));
    return (nh[0] == 0x17 || nh[0] == 0x01) && memmem(nh, (size_t)size, aes, 4) != NULL;
}

/* vint - a RAR5 variable-length integer at p[*i], below n */
static bool
vint(const unsigned char *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; *i < n && shift < 64; shift += 7) {
        unsigned char b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* rar5_encrypted - an archive encryption header, or a file header with an encryption record */
static bool
rar5_encrypted(const unsigned char *h, size_t hl)
{
    size_t p = 8;
    for (int blocks = 0; blocks < 64 && p < hl && hl - p > 4; blocks++) {
        size_t i = p + 4; /* past the header CRC */
        uint64_t hsize, type, flags, extra = 0, data = 0;
        if (!vint(h, hl, &i, &hsize))
            return false;
        size_t hstart = i;
        if (!vint(h, hl, &i, &type) || !vint(h, hl, &i, &flags))
            return false;
        if (type == 4)
            return true;
        if (((flags & 1) && !vint(h, hl, &i, &extra)) || ((flags & 2) && !vint(h, hl, &i, &data)))
            return false;
        if (hsize > hl - hstart)
            return false;
        size_t hend = hstart + (size_t)hsize;
        if ((type == 2 || type == 3) && extra > 0 && extra <= hsize) {
            for (size_t r = hend - (size_t)extra; r < hend;) {
                uint64_t rsize, rtype;
                if (!vint(h, hend, &r, &rsize))
                    break;
                size_t rstart = r;
                if (!vint(h, hend, &r, &rtype))
                    break;
                if (rtype == 1)
                    return true;
                if (rsize > hend - rstart)
                    break;
                r = rstart + (size_t)rsize;
            }
        }
        if (data > hl)
            return false;
        p = hend + (size_t)data;
    }
    return false;
}

/* rar4_encrypted - main header flag "block headers encrypted", or a file header's password flag */
static bool
rar4_encrypted(const unsigned char *h, size_t hl)
{
    size_t p = 7;
    for (int blocks = 0; blocks < 64 && p < hl && hl - p >= 7; blocks++) {
        unsigned type = h[p + 2];
        uint32_t flags = le16(h + p + 3), size = le16(h + p + 5);
        if (size < 7)
            return false;
        if (type == 0x73 && (flags & 0x0080))
            return true;
        if (type == 0x74 && (flags & 0x0004))
            return true;
        uint64_t add = 0;
        if (type == 0x74 || (flags & 0x8000)) {
            if (hl - p < 11)
                return false;
            add = le32(h + p + 7);
        }
        p += size + (size_t)add;
    }
    return false;
}

/* sg_archive_encrypted - ZIP, 7z or RAR with encrypted entries or headers */
bool
sg_archive_encrypted(const unsigned char *h, size_t hl, const unsigned char *t, size_t tl,
                     size_t total)
{
    if (hl >= 8 && memcmp(h, "Rar!\x1A\x07\x01\x00", 8) == 0)
        return rar5_encrypted(h, hl);
    if (hl >= 7 && memcmp(h, "Rar!\x1A\x07\x00", 7) == 0)
        return rar4_encrypted(h, hl);
    return sevenzip_encrypted(h, hl, t, tl, total) || zip_encrypted(h, hl, t, tl);
}
