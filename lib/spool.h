/*
 * spool.h - a byte store for one message body: in memory up to a limit,
 * then moved to an unlinked temporary file, so a daemon handling many large
 * messages keeps a bounded memory footprint.
 *
 * One spool belongs to one message (one thread at a time).
 */
#ifndef SG_SPOOL_H
#define SG_SPOOL_H

#include "common.h"

struct sg_spool;

/* sg_spool_new - a spool that moves to a file in dir past mem_limit bytes */
struct sg_spool *sg_spool_new(size_t mem_limit, const char *dir);
void sg_spool_free(struct sg_spool **spool);

/* sg_spool_check_dir - can this process create spool files in dir?  SG_TEMP
 * with the reason (caller frees) when not */
enum sg_rc sg_spool_check_dir(const char *dir, char **error_r);

/* sg_spool_append - add bytes; SG_TEMP with *error_r (caller frees) when the file cannot be written
 */
enum sg_rc sg_spool_append(struct sg_spool *spool, const void *data, size_t len, char **error_r);

/* sg_spool_size - bytes stored so far */
size_t sg_spool_size(const struct sg_spool *spool);

/* sg_spool_on_disk - has the spool moved to a file? */
bool sg_spool_on_disk(const struct sg_spool *spool);

/* sg_spool_fd - the spool file's descriptor once on disk (borrowed; read it
 * with pread, or dup it: the spool itself never relies on the file offset), else -1 */
int sg_spool_fd(const struct sg_spool *spool);

/* sg_spool_memory - the content while in memory (borrowed), else NULL */
const void *sg_spool_memory(const struct sg_spool *spool, size_t *len_r);

/* sg_spool_read_fn - receives the content in order, chunk by chunk; false stops */
typedef bool sg_spool_read_fn(const void *data, size_t len, void *arg);

/* sg_spool_read - hand the whole content to fn in chunks; SG_TEMP on I/O error */
enum sg_rc sg_spool_read(struct sg_spool *spool, sg_spool_read_fn *fn, void *arg, char **error_r);

#endif
