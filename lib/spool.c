/*
 * spool.c - memory-then-file message spool.  The temporary file is created
 * with mkstemp (mode 0600) and unlinked at once: nothing is left behind if
 * the daemon dies, and nobody else can open it.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SG_SPOOL_CHUNK 65536

struct sg_spool {
    size_t limit;
    char *dir;
    unsigned char *mem;
    size_t mem_len, mem_cap;
    int fd; /* -1 while in memory */
    size_t size;
};

/* sg_spool_new - an empty spool */
struct sg_spool *
sg_spool_new(size_t mem_limit, const char *dir)
{
    struct sg_spool *s = sg_xcalloc(1, sizeof(*s));
    s->limit = mem_limit;
    s->dir = sg_xstrdup(dir);
    s->fd = -1;
    return s;
}

/* sg_spool_free - release memory and the temporary file */
void
sg_spool_free(struct sg_spool **sp)
{
    struct sg_spool *s = *sp;
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->mem);
    free(s->dir);
    free(s);
    *sp = NULL;
}

/* write_all - write everything, retrying short writes */
static bool
write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* to_disk - move the in-memory part into a new unlinked file */
static enum sg_rc
to_disk(struct sg_spool *s, char **error_r)
{
    char *tmpl = sg_xasprintf("%s/sendguard.XXXXXX", s->dir);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        *error_r = sg_xasprintf("cannot create spool file in %s: %s", s->dir, strerror(errno));
        free(tmpl);
        return SG_TEMP;
    }
    unlink(tmpl);
    free(tmpl);
    if (!write_all(fd, s->mem, s->mem_len)) {
        *error_r = sg_xasprintf("cannot write spool file in %s: %s", s->dir, strerror(errno));
        close(fd);
        return SG_TEMP;
    }
    s->fd = fd;
    free(s->mem);
    s->mem = NULL;
    s->mem_len = s->mem_cap = 0;
    return SG_OK;
}

/* sg_spool_check_dir - create and remove a spool file */
enum sg_rc
sg_spool_check_dir(const char *dir, char **error_r)
{
    char *tmpl = sg_xasprintf("%s/sendguard.XXXXXX", dir);
    int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) {
        *error_r =
            sg_xasprintf("spool_directory %s: cannot create files there: %s", dir, strerror(errno));
        free(tmpl);
        return SG_TEMP;
    }
    unlink(tmpl);
    close(fd);
    free(tmpl);
    return SG_OK;
}

/* sg_spool_append - store bytes, switching to disk past the limit */
enum sg_rc
sg_spool_append(struct sg_spool *s, const void *data, size_t len, char **error_r)
{
    if (len == 0)
        return SG_OK; /* also spares memcpy a NULL buffer */
    if (s->fd < 0 && s->mem_len + len > s->limit) {
        enum sg_rc rc = to_disk(s, error_r);
        if (rc != SG_OK)
            return rc;
    }
    if (s->fd >= 0) {
        if (!write_all(s->fd, data, len)) {
            *error_r = sg_xasprintf("cannot write spool file in %s: %s", s->dir, strerror(errno));
            return SG_TEMP;
        }
    } else {
        if (s->mem_len + len > s->mem_cap) {
            size_t cap = s->mem_cap ? s->mem_cap : 4096;
            while (cap < s->mem_len + len)
                cap *= 2;
            s->mem = sg_xrealloc(s->mem, cap);
            s->mem_cap = cap;
        }
        memcpy(s->mem + s->mem_len, data, len);
        s->mem_len += len;
    }
    s->size += len;
    return SG_OK;
}

/* sg_spool_size - bytes stored */
size_t
sg_spool_size(const struct sg_spool *s)
{
    return s->size;
}

/* sg_spool_on_disk - file or memory */
bool
sg_spool_on_disk(const struct sg_spool *s)
{
    return s->fd >= 0;
}

/* sg_spool_fd - the file, once on disk */
int
sg_spool_fd(const struct sg_spool *s)
{
    return s->fd;
}

/* sg_spool_memory - the bytes, while in memory */
const void *
sg_spool_memory(const struct sg_spool *s, size_t *len_r)
{
    *len_r = s->mem_len;
    return s->fd < 0 ? (const void *)(s->mem ? s->mem : (unsigned char *)"") : NULL;
}

/* sg_spool_read - replay the content to fn */
enum sg_rc
sg_spool_read(struct sg_spool *s, sg_spool_read_fn *fn, void *arg, char **error_r)
{
    if (s->fd < 0) {
        if (s->mem_len > 0)
            (void)fn(s->mem, s->mem_len, arg);
        return SG_OK;
    }
    unsigned char *buf = sg_xmalloc(SG_SPOOL_CHUNK);
    off_t off = 0;
    enum sg_rc rc = SG_OK;
    for (;;) {
        ssize_t n = pread(s->fd, buf, SG_SPOOL_CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *error_r = sg_xasprintf("cannot read spool file: %s", strerror(errno));
            rc = SG_TEMP;
            break;
        }
        if (n == 0 || !fn(buf, (size_t)n, arg))
            break;
        off += n;
    }
    free(buf);
    return rc;
}
