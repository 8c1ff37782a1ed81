/*
 * test_mime_memory.c - analysing a large spooled message keeps memory bounded:
 * GMime reads the body from the spool file (a persistent, seekable stream)
 * instead of a copy in memory.  A process of its own, so that its peak RSS
 * (VmHWM) is this test's alone.
 */
#include "content.h"
#include "message.h"
#include "mime.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* peak_rss_kb - VmHWM of this process */
static long
peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    fclose(f);
    return kb;
}

/* test_large_attachment - a 60 MB message, spooled to disk, analysed in well under 60 MB */
static void
test_large_attachment(void **state)
{
    (void)state;
    char *dir = tu_tempdir();
    struct sg_msg *msg = sg_msg_new(1 << 20, dir);
    char *error = NULL;
    sg_msg_add_header(msg, "From", " Boekhouding <factuur@example.nl>");
    sg_msg_add_header(msg, "Subject", " Factuur met bijlagen");
    sg_msg_add_header(msg, "MIME-Version", " 1.0");
    sg_msg_add_header(msg, "Content-Type", " multipart/mixed; boundary=\"b\"");
    static const char head[] = "--b\r\nContent-Type: text/plain\r\n\r\nZie bijlage.\r\n"
                               "--b\r\nContent-Type: application/pdf\r\n"
                               "Content-Disposition: attachment; filename=\"archief.pdf\"\r\n"
                               "Content-Transfer-Encoding: base64\r\n\r\n";
    static const char line[] =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
    assert_int_equal(sg_msg_add_body(msg, head, strlen(head), &error), SG_OK);
    for (int i = 0; i < 800000; i++) /* 59 MB of base64 */
        assert_int_equal(sg_msg_add_body(msg, line, strlen(line), &error), SG_OK);
    assert_int_equal(sg_msg_add_body(msg, "--b--\r\n", 7, &error), SG_OK);
    assert_true(sg_spool_on_disk(sg_msg_body(msg)));

    sg_mime_init();
    long before = peak_rss_kb();
    struct sg_content *c = NULL;
    assert_int_equal(sg_mime_analyse(msg, &c, &error), SG_OK);
    long after = peak_rss_kb();
    assert_int_equal(c->nattachments, 1);
    assert_int_equal(c->attachments[0].size, 800000 * 54);
    assert_non_null(strstr(c->parts[0].text, "Zie bijlage."));
    /* A copy of the message would add ~60 MB; reading from the spool adds little. */
    if (after - before > 16 * 1024)
        fail_msg("analysis raised peak RSS by %ld kB for a 59 MB message", after - before);
    sg_content_free(&c);
    sg_msg_free(&msg);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_large_attachment)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
