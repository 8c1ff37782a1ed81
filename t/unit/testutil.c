/*
 * testutil.c - unit test helpers.
 */
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* tu_tempdir - private scratch directory */
char *
tu_tempdir(void)
{
    char *dir = sg_xstrdup("/tmp/sgunit.XXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

/* rm_entry - nftw callback */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* tu_rmtree - remove a scratch directory */
void
tu_rmtree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* tu_write - a file with content and mode */
char *
tu_write(const char *dir, const char *name, const char *content, unsigned mode)
{
    char *path = sg_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

/* tu_key - a fresh private key */
char *
tu_key(const char *dir, const char *name, enum sg_key_alg alg)
{
    char *path = sg_xasprintf("%s/%s", dir, name);
    char *error = NULL;
    enum sg_rc rc = sg_key_generate(path, alg, 2048, &error);
    if (rc != SG_OK)
        fail_msg("%s", error);
    return path;
}

/* tu_source - path in the source tree, from SG_SOURCE_DIR */
char *
tu_source(const char *rel)
{
    const char *src = getenv("SG_SOURCE_DIR");
    assert_non_null(src);
    return sg_xasprintf("%s/%s", src, rel);
}

/* tu_zone - a zone, or a failed test */
struct sg_spf *
tu_zone(const char *const *entries, size_t n)
{
    struct sg_spf *spf = NULL;
    char *error = NULL;
    if (sg_spf_new_zone(entries, n, &spf, &error) != SG_OK)
        fail_msg("zone: %s", error);
    return spf;
}
