/*
 * test_message.c - splitting a message file into fields and body the way the
 * MTA would hand them to the milter.
 */
#include "message.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

struct collect {
    char buf[4096];
    size_t len;
};

/* collect - gather the body */
static bool
collect(const void *data, size_t len, void *arg)
{
    struct collect *c = arg;
    assert_true(c->len + len < sizeof(c->buf));
    memcpy(c->buf + c->len, data, len);
    c->len += len;
    return true;
}

/* parse - text into a message; returns the body as a string in *body */
static struct sg_msg *
parse(const char *text, struct collect *body)
{
    struct sg_msg *m = sg_msg_new(1 << 20, "/tmp");
    char *error = NULL;
    assert_int_equal(sg_msg_parse(m, text, strlen(text), &error), SG_OK);
    memset(body, 0, sizeof(*body));
    assert_int_equal(sg_spool_read(sg_msg_body(m), collect, body, &error), SG_OK);
    body->buf[body->len] = '\0';
    return m;
}

/* test_fields_and_folding - names, values with their leading space, folded lines kept */
static void
test_fields_and_folding(void **state)
{
    (void)state;
    struct collect body;
    struct sg_msg *m = parse("From: Alice <a@example.nl>\r\n"
                             "Subject: a long\r\n"
                             "\tfolded subject\r\n"
                             "X-Empty:\r\n"
                             "\r\n"
                             "line 1\r\n"
                             "line 2\r\n",
                             &body);
    assert_int_equal(sg_msg_header_count(m), 3);
    assert_string_equal(sg_msg_header_name(m, 0), "From");
    assert_string_equal(sg_msg_header_value(m, 0), " Alice <a@example.nl>");
    assert_string_equal(sg_msg_header_value(m, 1), " a long\n\tfolded subject");
    assert_string_equal(sg_msg_header_value(m, 2), "");
    assert_string_equal(body.buf, "line 1\r\nline 2\r\n");
    size_t n;
    assert_non_null(sg_msg_header_find(m, "from", &n));
    assert_int_equal(n, 1);
    assert_null(sg_msg_header_find(m, "Date", &n));
    assert_int_equal(n, 0);
    sg_msg_free(&m);
    assert_null(m);
}

/* test_bare_lf - a file with LF line ends gives a CRLF body, as SMTP carries it */
static void
test_bare_lf(void **state)
{
    (void)state;
    struct collect body;
    struct sg_msg *m = parse("From: a@example.nl\nTo: b@example.com\n\nhello\nworld\n", &body);
    assert_int_equal(sg_msg_header_count(m), 2);
    assert_string_equal(sg_msg_header_value(m, 1), " b@example.com");
    assert_string_equal(body.buf, "hello\r\nworld\r\n");
    sg_msg_free(&m);
}

/* test_duplicates_and_no_body - two From fields are both kept; a header-only message has no body */
static void
test_duplicates_and_no_body(void **state)
{
    (void)state;
    struct collect body;
    struct sg_msg *m = parse("From: a@example.nl\r\nfrom: b@example.nl\r\n", &body);
    size_t n;
    assert_string_equal(sg_msg_header_find(m, "FROM", &n), " a@example.nl");
    assert_int_equal(n, 2);
    assert_int_equal(body.len, 0);
    sg_msg_free(&m);
}

/* test_no_colon - a line that is no header ends the header, like an MTA would treat it */
static void
test_no_colon(void **state)
{
    (void)state;
    struct collect body;
    struct sg_msg *m = parse("From: a@example.nl\r\nthis is not a header\r\nbody\r\n", &body);
    assert_int_equal(sg_msg_header_count(m), 1);
    assert_string_equal(body.buf, "this is not a header\r\nbody\r\n");
    sg_msg_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_folding),
        cmocka_unit_test(test_bare_lf),
        cmocka_unit_test(test_duplicates_and_no_body),
        cmocka_unit_test(test_no_colon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
