/*
 * testutil.h - helpers shared by the unit tests: private temp directories,
 * files with given content and mode, keys, and captured log lines.
 */
#ifndef SG_TESTUTIL_H
#define SG_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common.h"
#include "key.h"
#include "spf.h"

/* tu_tempdir - a new 0700 directory under /tmp (caller frees the name; tu_rmtree removes) */
char *tu_tempdir(void);
void tu_rmtree(const char *dir);

/* tu_write - create dir/name with content and mode; returns the path (caller frees) */
char *tu_write(const char *dir, const char *name, const char *content, unsigned mode);

/* tu_key - generate a key file dir/name (mode 0600); returns the path (caller frees) */
char *tu_key(const char *dir, const char *name, enum sg_key_alg alg);

/* tu_source - a path inside the source tree (caller frees) */
char *tu_source(const char *rel);

/* tu_zone - an SPF/DNS handle on an in-memory zone (sg_spf_new_zone); fails
 * the test when the zone does not load (caller frees with sg_spf_free) */
struct sg_spf *tu_zone(const char *const *entries, size_t n);

#endif
