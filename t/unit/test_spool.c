/*
 * test_spool.c - memory up to the limit, then an unlinked file; the content
 * comes back identical either way; a spool that cannot write says so.
 */
#include "spool.h"
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct collect {
    unsigned char *buf;
    size_t len;
    size_t chunks;
};

/* collect - spool reader that appends everything */
static bool
collect(const void *data, size_t len, void *arg)
{
    struct collect *c = arg;
    c->buf = sg_xrealloc(c->buf, c->len + len);
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    c->chunks++;
    return true;
}

/* count_entries - files in a directory */
static int
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* round_trip - write total bytes in pieces through a spool with limit, check what comes back */
static void
round_trip(size_t limit, size_t total, bool expect_disk)
{
    char *dir = tu_tempdir();
    struct sg_spool *s = sg_spool_new(limit, dir);
    unsigned char *data = sg_xmalloc(total);
    for (size_t i = 0; i < total; i++)
        data[i] = (unsigned char)(i * 31 + i / 7);
    char *error = NULL;
    for (size_t off = 0; off < total; off += 1000)
        assert_int_equal(
            sg_spool_append(s, data + off, total - off < 1000 ? total - off : 1000, &error), SG_OK);
    assert_int_equal(sg_spool_size(s), total);
    assert_int_equal(sg_spool_on_disk(s), expect_disk);
    /* The temporary file is unlinked at once: nothing shows in the directory. */
    assert_int_equal(count_entries(dir), 0);
    struct collect c = {0};
    assert_int_equal(sg_spool_read(s, collect, &c, &error), SG_OK);
    assert_int_equal(c.len, total);
    assert_memory_equal(c.buf, data, total);
    /* Reading twice gives the same again (signing may need several passes). */
    struct collect c2 = {0};
    assert_int_equal(sg_spool_read(s, collect, &c2, &error), SG_OK);
    assert_int_equal(c2.len, total);
    sg_spool_free(&s);
    assert_null(s);
    free(c.buf);
    free(c2.buf);
    free(data);
    tu_rmtree(dir);
    free(dir);
}

/* test_in_memory - under the limit nothing touches the disk */
static void
test_in_memory(void **state)
{
    (void)state;
    round_trip(64 * 1024, 50 * 1000, false);
}

/* test_to_disk - past the limit the content moves to a file, intact */
static void
test_to_disk(void **state)
{
    (void)state;
    round_trip(16 * 1024, 3 * 1000 * 1000, true);
}

/* test_unwritable_dir - a spool that cannot create its file returns SG_TEMP and says where */
static void
test_unwritable_dir(void **state)
{
    (void)state;
    struct sg_spool *s = sg_spool_new(10, "/nonexistent-sendguard-dir");
    char *error = NULL;
    assert_int_equal(sg_spool_append(s, "0123456789abc", 13, &error), SG_TEMP);
    assert_non_null(strstr(error, "/nonexistent-sendguard-dir"));
    free(error);
    sg_spool_free(&s);
}

/* test_full_disk - a write that fails half-way (file size limit, like a full
 * disk) returns SG_TEMP with the reason instead of crashing or losing track */
static void
test_full_disk(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    struct sg_spool *s = sg_spool_new(1024, dir);
    struct rlimit old, small;
    char buf[4096];
    char *error = NULL;
    enum sg_rc rc = SG_OK;

    memset(buf, 'x', sizeof(buf));
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    /* Lower only the soft limit, so that it can be raised again. */
    small.rlim_cur = 16 * 1024;
    small.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    for (int i = 0; i < 16 && rc == SG_OK; i++)
        rc = sg_spool_append(s, buf, sizeof(buf), &error);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, SG_TEMP);
    assert_non_null(strstr(error, "cannot write spool file"));
    free(error);
    sg_spool_free(&s);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_memory),
        cmocka_unit_test(test_to_disk),
        cmocka_unit_test(test_unwritable_dir),
        cmocka_unit_test(test_full_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
