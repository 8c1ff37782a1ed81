/*
 * test_reinject.c - handing a released message back to the MTA.  SMTP,
 * against a scripted server on 127.0.0.1: the exact dialogue (EHLO, MAIL,
 * RCPT per recipient, DATA, QUIT) and bytes on the wire (dot-stuffing, bare
 * LF made CRLF, a last line end added, "." to end); multi-line replies read
 * whole; BODY=8BITMIME only when offered and needed; the null sender; the
 * final reply returned; a refused recipient is SG_PERM naming it, with no
 * DATA sent; 4xx after the data and an unreachable server are SG_TEMP; an
 * address that could inject a command is refused before connecting.  The
 * sendmail program, as a script: exact argv and standard input, exit status
 * to result, a missing program, and one that stops reading (no SIGPIPE).
 */
#include "reinject.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The fake server gives up on a silent client after this long. */
#define SERVER_WAIT_MS 20000

/* A growing byte buffer. */
struct bytes {
    char *data;
    size_t len, cap;
};

/* bytes_add - append n bytes (always NUL-terminated) */
static void
bytes_add(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? 2 * b->cap : 4096;
        b->data = sg_xrealloc(b->data, b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* A scripted SMTP server for one connection.  NULL replies get defaults. */
struct server {
    /* script */
    const char *greeting; /* "" = close at once without a word */
    const char *ehlo;
    const char *mail;
    const char *rcpt[4]; /* one per RCPT in order */
    const char *data;    /* reply to DATA */
    const char *end;     /* reply after the message */
    bool hang_up;        /* close after the message instead of replying */
    /* state */
    int lfd;
    char port[16];
    pthread_t thread;
    /* what happened (read after server_stop) */
    struct bytes got; /* every byte received */
    char *message;    /* what came after DATA up to and including "\r\n.\r\n" */
    size_t message_len;
    size_t nrcpt;
    bool accepted, quit, timed_out;
};

/* listen_loopback - a listening socket on 127.0.0.1 port 0; its port into port */
static int
listen_loopback(char port[16])
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 4), 0);
    socklen_t sl = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
    snprintf(port, 16, "%u", (unsigned)ntohs(sin.sin_port));
    return fd;
}

/* say - send a whole reply */
static void
say(int fd, const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* wait_readable - poll one descriptor; false on timeout */
static bool
wait_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, SERVER_WAIT_MS)) < 0 && errno == EINTR)
        ;
    return n > 0;
}

/* or_default - a scripted reply or its default */
static const char *
or_default(const char *reply, const char *dflt)
{
    return reply != NULL ? reply : dflt;
}

/* serve - the server thread: greet, answer each command, take the data */
static void *
serve(void *arg)
{
    struct server *s = arg;
    if (!wait_readable(s->lfd)) {
        s->timed_out = true;
        return NULL;
    }
    int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    s->accepted = true;
    const char *greeting = or_default(s->greeting, "220 fake.example ESMTP\r\n");
    if (greeting[0] == '\0') {
        close(fd);
        return NULL;
    }
    say(fd, greeting);
    size_t pos = 0; /* bytes of got already handled */
    bool in_data = false;
    while (!s->quit) {
        if (in_data) {
            /* The DATA line's own CRLF may start the terminator (an empty message). */
            char *end = memmem(s->got.data + pos - 2, s->got.len - (pos - 2), "\r\n.\r\n", 5);
            if (end != NULL) {
                size_t stop = (size_t)(end - s->got.data) + 5;
                s->message_len = stop - pos;
                s->message = sg_xstrndup(s->got.data + pos, s->message_len);
                pos = stop;
                in_data = false;
                if (s->hang_up)
                    break;
                say(fd, or_default(s->end, "250 2.0.0 Ok: queued as 4XyZ1abc\r\n"));
                continue;
            }
        } else if (s->got.len > pos) {
            char *nl = memmem(s->got.data + pos, s->got.len - pos, "\r\n", 2);
            if (nl != NULL) {
                const char *line = s->got.data + pos;
                pos = (size_t)(nl - s->got.data) + 2;
                if (strncasecmp(line, "EHLO ", 5) == 0) {
                    say(fd, or_default(s->ehlo, "250-fake.example\r\n250 SIZE 10240000\r\n"));
                } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
                    say(fd, or_default(s->mail, "250 2.1.0 Ok\r\n"));
                } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
                    const char *r = s->nrcpt < SG_NELEM(s->rcpt) ? s->rcpt[s->nrcpt] : NULL;
                    s->nrcpt++;
                    say(fd, or_default(r, "250 2.1.5 Ok\r\n"));
                } else if (strncasecmp(line, "DATA\r\n", 6) == 0) {
                    const char *r = or_default(s->data, "354 End data with <CR><LF>.<CR><LF>\r\n");
                    in_data = r[0] == '3';
                    say(fd, r);
                } else if (strncasecmp(line, "QUIT\r\n", 6) == 0) {
                    say(fd, "221 2.0.0 Bye\r\n");
                    s->quit = true;
                } else {
                    say(fd, "502 5.5.2 Error: command not recognized\r\n");
                }
                continue;
            }
        }
        if (!wait_readable(fd)) {
            s->timed_out = true;
            break;
        }
        char buf[65536];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        bytes_add(&s->got, buf, (size_t)n);
    }
    close(fd);
    return NULL;
}

/* server_start - listen and serve one connection in a thread */
static void
server_start(struct server *s)
{
    s->lfd = listen_loopback(s->port);
    bytes_add(&s->got, "", 0);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

/* server_stop - join the thread (it ends when the client is done) and close */
static void
server_stop(struct server *s)
{
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    close(s->lfd);
    assert_false(s->timed_out);
}

/* server_free - what the server recorded */
static void
server_free(struct server *s)
{
    free(s->got.data);
    free(s->message);
}

/* ehlo_line - "EHLO <this host>\r\n", as the client names itself (caller frees) */
static char *
ehlo_line(void)
{
    char me[256] = "localhost";
    gethostname(me, sizeof(me) - 1);
    return sg_xasprintf("EHLO %s\r\n", me);
}

/* test_dialogue - the exact commands, the stuffed message and the final reply */
static void
test_dialogue(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s);
    char *rcpts[] = {"klant@example.nl", "boekhouding@example.nl"};
    /* A leading dot on the first and a later line, a lone "." line, a bare
     * LF, an 8-bit byte (not offered 8BITMIME here), no final line end. */
    static const char data[] = ".first\r\n"
                               "Subject: test\r\n"
                               "\r\n"
                               "..two dots\r\n"
                               ".\r\n"
                               "bare\n.lf\r\n"
                               "caf\xc3\xa9\r\n"
                               "not a dot. at the start\r\n"
                               "last line";
    char *reply = NULL, *error = NULL;
    enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "bounce@example.org", rcpts, 2, data,
                                     sizeof(data) - 1, &reply, NULL, &error);
    server_stop(&s);
    if (rc != SG_OK)
        fail_msg("reinject: %s", error);
    assert_string_equal(reply, "250 2.0.0 Ok: queued as 4XyZ1abc");

    static const char wire[] = "..first\r\n"
                               "Subject: test\r\n"
                               "\r\n"
                               "...two dots\r\n"
                               "..\r\n"
                               "bare\r\n..lf\r\n"
                               "caf\xc3\xa9\r\n"
                               "not a dot. at the start\r\n"
                               "last line\r\n"
                               ".\r\n";
    assert_int_equal(s.message_len, sizeof(wire) - 1);
    assert_memory_equal(s.message, wire, sizeof(wire) - 1);

    char *ehlo = ehlo_line();
    char *dialogue = sg_xasprintf("%s"
                                  "MAIL FROM:<bounce@example.org>\r\n"
                                  "RCPT TO:<klant@example.nl>\r\n"
                                  "RCPT TO:<boekhouding@example.nl>\r\n"
                                  "DATA\r\n"
                                  "%s"
                                  "QUIT\r\n",
                                  ehlo, wire);
    assert_string_equal(s.got.data, dialogue);
    assert_true(s.quit);
    free(dialogue);
    free(ehlo);
    free(reply);
    server_free(&s);
}

/* test_large_message - 2 MB of lines (many with a leading dot, LF or CRLF
 * ends, 8-bit bytes) arrive stuffed and CRLF, byte for byte, across the
 * client's buffer boundaries */
static void
test_large_message(void **state)
{
    (void)state;
    struct bytes data = {0}, wire = {0};
    unsigned seed = 12345;
    while (data.len < 2 * 1024 * 1024) {
        seed = seed * 1103515245 + 12345;
        size_t n = (seed >> 16) % 120;
        char line[130];
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245 + 12345;
            unsigned r = (seed >> 16) % 100;
            line[i] = r < 10 ? '.' : r < 15 ? (char)0xe9 : (char)('a' + r % 26);
        }
        seed = seed * 1103515245 + 12345;
        if ((seed >> 16) % 3 == 0 && n > 0)
            line[0] = '.';
        bool crlf = (seed >> 20) % 2 == 0;
        bytes_add(&data, line, n);
        bytes_add(&data, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
        if (n > 0 && line[0] == '.')
            bytes_add(&wire, ".", 1);
        bytes_add(&wire, line, n);
        bytes_add(&wire, "\r\n", 2);
    }
    bytes_add(&data, ".no end", 7);
    bytes_add(&wire, "..no end\r\n.\r\n", 13);

    struct server s = {.ehlo = "250-fake.example\r\n250 8BITMIME\r\n"};
    server_start(&s);
    char *rcpts[] = {"klant@example.nl"};
    char *reply = NULL, *error = NULL;
    enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "a@example.org", rcpts, 1, data.data,
                                     data.len, &reply, NULL, &error);
    server_stop(&s);
    if (rc != SG_OK)
        fail_msg("reinject: %s", error);
    assert_non_null(strstr(s.got.data, "MAIL FROM:<a@example.org> BODY=8BITMIME\r\n"));
    assert_int_equal(s.message_len, wire.len);
    assert_memory_equal(s.message, wire.data, wire.len);
    free(reply);
    free(data.data);
    free(wire.data);
    server_free(&s);
}

/* test_null_sender_and_empty - MAIL FROM:<> and an empty message is just "." */
static void
test_null_sender_and_empty(void **state)
{
    (void)state;
    struct server s = {0};
    server_start(&s);
    char *rcpts[] = {"postmaster@example.nl"};
    char *reply = NULL, *error = NULL;
    enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "", rcpts, 1, "", 0, &reply, NULL, &error);
    server_stop(&s);
    if (rc != SG_OK)
        fail_msg("reinject: %s", error);
    assert_non_null(strstr(s.got.data, "\r\nMAIL FROM:<>\r\nRCPT TO:<postmaster@example.nl>\r\n"));
    assert_int_equal(s.message_len, 3);
    assert_memory_equal(s.message, ".\r\n", 3);
    free(reply);
    server_free(&s);
}

/* test_multiline_replies - long multi-line greeting and EHLO replies are read
 * whole: the replies stay in step, so the final one is the queue reply */
static void
test_multiline_replies(void **state)
{
    (void)state;
    struct bytes ehlo = {0};
    bytes_add(&ehlo, "250-fake.example Hello\r\n", 24);
    for (int i = 0; i < 400; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "250-X-EXTENSION-%03d with some words\r\n", i);
        bytes_add(&ehlo, line, (size_t)n);
    }
    bytes_add(&ehlo, "250 SMTPUTF8\r\n", 14);
    struct server s = {
        .greeting = "220-fake.example ESMTP\r\n220-second line\r\n220 third line\r\n",
        .ehlo = ehlo.data,
        .mail = "250-2.1.0 sender\r\n250 2.1.0 Ok\r\n",
        .rcpt = {"250-2.1.5 one\r\n250 2.1.5 Ok\r\n"},
        .end = "250-2.0.0 still here\r\n250 2.0.0 Ok: queued as 4Multi\r\n",
    };
    server_start(&s);
    char *rcpts[] = {"klant@example.nl"};
    char *reply = NULL, *error = NULL;
    enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "a@example.org", rcpts, 1, "x\r\n", 3,
                                     &reply, NULL, &error);
    server_stop(&s);
    if (rc != SG_OK)
        fail_msg("reinject: %s", error);
    /* Every line of the final reply, joined; the queue id is in the last. */
    assert_non_null(reply);
    assert_non_null(strstr(reply, "250 2.0.0 Ok: queued as 4Multi"));
    assert_null(strstr(reply, "X-EXTENSION"));
    /* One command per reply: a half-read reply would have sent QUIT early or DATA twice. */
    assert_int_equal(s.nrcpt, 1);
    assert_memory_equal(s.message, "x\r\n.\r\n", 6);
    assert_true(s.quit);
    free(reply);
    free(ehlo.data);
    server_free(&s);
}

/* test_8bitmime - BODY=8BITMIME when the server offers it and the data needs it */
static void
test_8bitmime(void **state)
{
    (void)state;
    static const char offer[] = "250-fake.example\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
    static const char no_offer[] = "250-fake.example\r\n250 SMTPUTF8\r\n";
    /* The greeting line names the server, not an extension. */
    static const char in_name[] = "250-8bitmime.example\r\n250-8BITMIMEX\r\n250 SMTPUTF8\r\n";
    static const struct {
        const char *ehlo, *data;
        bool body;
    } rows[] = {
        {offer, "caf\xc3\xa9\r\n", true},
        {offer, "plain ascii\r\n", false},
        {no_offer, "caf\xc3\xa9\r\n", false},
        {no_offer, "plain ascii\r\n", false},
        {offer, "\x80", true},
        {in_name, "caf\xc3\xa9\r\n", false},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct server s = {.ehlo = rows[i].ehlo};
        server_start(&s);
        char *rcpts[] = {"klant@example.nl"};
        char *reply = NULL, *error = NULL;
        enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "a@example.org", rcpts, 1,
                                         rows[i].data, strlen(rows[i].data), &reply, NULL, &error);
        server_stop(&s);
        if (rc != SG_OK)
            fail_msg("row %zu: %s", i, error);
        const char *want = rows[i].body ? "\r\nMAIL FROM:<a@example.org> BODY=8BITMIME\r\n"
                                        : "\r\nMAIL FROM:<a@example.org>\r\n";
        if (strstr(s.got.data, want) == NULL)
            fail_msg("row %zu: no \"%s\" in:\n%s", i, want + 2, s.got.data);
        free(reply);
        server_free(&s);
    }
}

/* test_recipient_refused - a 550 for one recipient: SG_PERM naming it and
 * the server's text, and the message is not sent */
static void
test_recipient_refused(void **state)
{
    (void)state;
    struct server s = {
        .rcpt = {NULL, "550 5.1.1 <nobody@example.nl>: Recipient address rejected: "
                       "User unknown\r\n"},
    };
    server_start(&s);
    char *rcpts[] = {"klant@example.nl", "nobody@example.nl", "third@example.nl"};
    char *reply = NULL, *error = NULL;
    enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "a@example.org", rcpts, 3, "x\r\n", 3,
                                     &reply, NULL, &error);
    server_stop(&s);
    assert_int_equal(rc, SG_PERM);
    assert_null(reply);
    assert_non_null(error);
    assert_non_null(strstr(error, "RCPT TO:<nobody@example.nl>"));
    assert_non_null(strstr(error, "550 5.1.1 <nobody@example.nl>: Recipient address rejected"));
    assert_int_equal(s.nrcpt, 2); /* stopped at the refusal */
    assert_null(strstr(s.got.data, "DATA"));
    assert_null(s.message);
    assert_true(s.quit); /* polite: QUIT, nothing accepted */
    free(error);
    server_free(&s);
}

/* test_temporary_failures - a 451 after the data, a 4xx to MAIL and a server
 * that hangs up are all SG_TEMP with the reason */
static void
test_temporary_failures(void **state)
{
    (void)state;
    static const struct {
        struct server script;
        const char *says;
    } rows[] = {
        {{.end = "451 4.3.0 Error: queue file write error\r\n"}, "451 4.3.0 Error: queue file"},
        {{.mail = "421 4.3.2 Service shutting down\r\n"}, "421 4.3.2 Service shutting down"},
        {{.greeting = ""}, "no (valid) reply"},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct server s = rows[i].script;
        server_start(&s);
        char *rcpts[] = {"klant@example.nl"};
        char *reply = NULL, *error = NULL;
        enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "a@example.org", rcpts, 1, "x\r\n", 3,
                                         &reply, NULL, &error);
        server_stop(&s);
        if (rc != SG_TEMP)
            fail_msg("row %zu: rc %s (%s)", i, sg_rc_str(rc), error ? error : "no error");
        assert_null(reply);
        if (error == NULL || strstr(error, rows[i].says) == NULL)
            fail_msg("row %zu: error \"%s\" does not say \"%s\"", i, error, rows[i].says);
        free(error);
        server_free(&s);
    }
}

/* test_unknown_outcome - the whole message sent and then no answer: the
 * caller is told the server may have queued it; an explicit 4xx is not that */
static void
test_unknown_outcome(void **state)
{
    (void)state;
    static const struct {
        struct server script;
        bool unknown;
    } rows[] = {
        {{.hang_up = true}, true},
        {{.end = "451 4.3.0 Error: queue file write error\r\n"}, false},
        {{.mail = "421 4.3.2 Service shutting down\r\n"}, false},
    };
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct server s = rows[i].script;
        server_start(&s);
        char *rcpts[] = {"klant@example.nl"};
        char *reply = NULL, *error = NULL;
        bool unknown = !rows[i].unknown;
        enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "a@example.org", rcpts, 1, "x\r\n", 3,
                                         &reply, &unknown, &error);
        server_stop(&s);
        assert_int_equal(rc, SG_TEMP);
        if (unknown != rows[i].unknown)
            fail_msg("row %zu: unknown = %d (%s)", i, unknown, error);
        free(error);
        server_free(&s);
    }
}

/* test_smtputf8 - non-ASCII addresses go with SMTPUTF8 when offered, and
 * are refused before MAIL when not (the server would refuse them anyway) */
static void
test_smtputf8(void **state)
{
    (void)state;
    char *rcpts[] = {"kl\xc3\xa1nt@voorbeeld.nl"};
    char *reply = NULL, *error = NULL;
    struct server s = {.ehlo = "250-fake.example\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"};
    server_start(&s);
    enum sg_rc rc = sg_reinject_smtp("127.0.0.1", s.port, "a@example.org", rcpts, 1, "x\r\n", 3,
                                     &reply, NULL, &error);
    server_stop(&s);
    assert_int_equal(rc, SG_OK);
    assert_non_null(strstr(s.got.data, "MAIL FROM:<a@example.org> SMTPUTF8\r\n"));
    assert_non_null(strstr(s.got.data, "RCPT TO:<kl\xc3\xa1nt@voorbeeld.nl>\r\n"));
    free(reply);
    server_free(&s);

    struct server t = {.ehlo = "250-fake.example\r\n250 8BITMIME\r\n"};
    server_start(&t);
    rc = sg_reinject_smtp("127.0.0.1", t.port, "a@example.org", rcpts, 1, "x\r\n", 3, &reply,
                          NULL, &error);
    server_stop(&t);
    assert_int_equal(rc, SG_PERM);
    assert_non_null(strstr(error, "SMTPUTF8"));
    assert_null(strstr(t.got.data, "MAIL FROM"));
    free(error);
    server_free(&t);
}

/* test_cannot_connect - nothing listening is SG_TEMP "cannot connect" */
static void
test_cannot_connect(void **state)
{
    (void)state;
    char port[16];
    int fd = listen_loopback(port);
    close(fd); /* the port was ours a moment ago; now nothing listens on it */
    char *rcpts[] = {"klant@example.nl"};
    char *reply = NULL, *error = NULL;
    enum sg_rc rc =
        sg_reinject_smtp("127.0.0.1", port, "a@example.org", rcpts, 1, "x\r\n", 3, &reply, NULL, &error);
    assert_int_equal(rc, SG_TEMP);
    assert_null(reply);
    assert_non_null(error);
    assert_non_null(strstr(error, "cannot connect"));
    assert_non_null(strstr(error, port));
    free(error);
}

/* test_bad_addresses - addresses that could smuggle a command are refused
 * before any connection is made */
static void
test_bad_addresses(void **state)
{
    (void)state;
    static const struct {
        const char *from, *rcpt;
    } rows[] = {
        {"a b@example.org", "klant@example.nl"},
        {"a@example.org>\r\nRCPT TO:<evil@example.com", "klant@example.nl"},
        {"a@example.org", "klant@example.nl>\r\nDATA"},
        {"a@example.org", "klant@example.nl\nRCPT TO:<evil@example.com>"},
        {"a@example.org", "<klant@example.nl>"},
        {"a@example.org", "klant@example.nl\r"},
        {"a@example.org", "klant@exa\tmple.nl"},
        {"a@example.org", ""},
    };
    char port[16];
    int lfd = listen_loopback(port);
    assert_int_equal(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        char *rcpts[] = {"ok@example.nl", (char *)rows[i].rcpt};
        char *reply = NULL, *error = NULL;
        enum sg_rc rc =
            sg_reinject_smtp("127.0.0.1", port, rows[i].from, rcpts, 2, "x\r\n", 3, &reply, NULL, &error);
        if (rc != SG_PERM)
            fail_msg("row %zu: rc %s", i, sg_rc_str(rc));
        assert_null(reply);
        assert_non_null(error);
        assert_non_null(strstr(error, "invalid"));
        free(error);
        /* A connect would be waiting in the backlog by now: there is none. */
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            fail_msg("row %zu: connected before refusing", i);
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    close(lfd);

    static const struct {
        const char *addr;
        bool ok;
    } v[] = {
        {"klant@example.nl", true},
        {"", true}, /* the null sender */
        {"j\xc3\xb6rg@example.de", true},
        {"a b@x", false},
        {"a\r\n@x", false},
        {"a\n@x", false},
        {"a<@x", false},
        {"a>@x", false},
        {"a\x7f@x", false},
        {"a\x01@x", false},
    };
    for (size_t i = 0; i < SG_NELEM(v); i++)
        if (sg_reinject_valid_address(v[i].addr) != v[i].ok)
            fail_msg("valid_address row %zu: want %d", i, v[i].ok);
}

/* A fake sendmail: a script recording its arguments and input in its directory. */
struct fake_sendmail {
    char *dir;
    char *path;
};

/* fake_sendmail_new - the script; it exits with the number in dir/status,
 * reading its input first unless read_input is false */
static struct fake_sendmail
fake_sendmail_new(bool read_input, int status)
{
    struct fake_sendmail f;
    f.dir = tu_tempdir();
    char *text = sg_xasprintf("#!/bin/sh\n"
                              "for a in \"$@\"; do printf '%%s\\n' \"$a\"; done > '%s/argv'\n"
                              "%s%s%s"
                              "exit $(cat '%s/status')\n",
                              f.dir, read_input ? "cat > '" : "", read_input ? f.dir : "",
                              read_input ? "/stdin'\n" : "", f.dir);
    f.path = tu_write(f.dir, "sendmail", text, 0755);
    char num[16];
    snprintf(num, sizeof(num), "%d\n", status);
    free(tu_write(f.dir, "status", num, 0644));
    free(text);
    return f;
}

/* read_all - a file's content (caller frees), length in *len_r; NULL when absent */
static char *
read_all(const char *dir, const char *name, size_t *len_r)
{
    char *path = sg_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    free(path);
    if (f == NULL)
        return NULL;
    struct bytes b = {0};
    bytes_add(&b, "", 0);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        bytes_add(&b, buf, n);
    fclose(f);
    *len_r = b.len;
    return b.data;
}

/* fake_sendmail_free - remove the script's directory */
static void
fake_sendmail_free(struct fake_sendmail *f)
{
    tu_rmtree(f->dir);
    free(f->dir);
    free(f->path);
}

/* test_sendmail_ok - argv is -i -f SENDER -- RCPT..., stdin is the data, exit 0 is SG_OK */
static void
test_sendmail_ok(void **state)
{
    (void)state;
    static const struct {
        const char *from, *argv;
    } rows[] = {
        {"bounce@example.org", "-i\n-f\nbounce@example.org\n--\nklant@example.nl\n-x@example.nl\n"},
        {"", "-i\n-f\n<>\n--\nklant@example.nl\n-x@example.nl\n"},
    };
    /* LF lines, a leading dot (no stuffing: -i), 8-bit bytes and a NUL. */
    static const char data[] = "X-Sendguard-Release: abc\n"
                               "Subject: t\n"
                               "\n"
                               ".\n"
                               "caf\xc3\xa9\0tail\n";
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        struct fake_sendmail f = fake_sendmail_new(true, 0);
        /* A recipient starting with '-' must not be taken for an option. */
        char *rcpts[] = {"klant@example.nl", "-x@example.nl"};
        char *error = NULL;
        enum sg_rc rc =
            sg_reinject_sendmail(f.path, rows[i].from, rcpts, 2, data, sizeof(data) - 1, &error);
        if (rc != SG_OK)
            fail_msg("row %zu: %s", i, error);
        size_t len;
        char *argv = read_all(f.dir, "argv", &len);
        assert_non_null(argv);
        assert_string_equal(argv, rows[i].argv);
        char *in = read_all(f.dir, "stdin", &len);
        assert_non_null(in);
        assert_int_equal(len, sizeof(data) - 1);
        assert_memory_equal(in, data, sizeof(data) - 1);
        free(argv);
        free(in);
        fake_sendmail_free(&f);
    }
}

/* test_sendmail_failures - a non-zero exit is SG_TEMP with the status; a
 * missing program is status 127; a program that stops reading is not SG_OK */
static void
test_sendmail_failures(void **state)
{
    (void)state;
    char *rcpts[] = {"klant@example.nl"};
    char *error = NULL;

    struct fake_sendmail f = fake_sendmail_new(true, 75);
    assert_int_equal(sg_reinject_sendmail(f.path, "a@example.org", rcpts, 1, "x\n", 2, &error),
                     SG_TEMP);
    assert_non_null(strstr(error, "exited with status 75"));
    assert_non_null(strstr(error, f.path));
    free(error);
    fake_sendmail_free(&f);

    error = NULL;
    assert_int_equal(
        sg_reinject_sendmail("/nonexistent/sendmail", "a@example.org", rcpts, 1, "x\n", 2, &error),
        SG_TEMP);
    assert_non_null(error);
    assert_non_null(strstr(error, "127"));
    free(error);

    /* 4 MB is far more than a pipe holds: the writer meets a closed pipe
     * (EPIPE, SIGPIPE ignored by main) whatever the exit status. */
    size_t big = 4 * 1024 * 1024;
    char *data = sg_xmalloc(big);
    memset(data, 'a', big);
    for (size_t i = 99; i < big; i += 100)
        data[i] = '\n';
    static const int statuses[] = {0, 75};
    for (size_t i = 0; i < SG_NELEM(statuses); i++) {
        f = fake_sendmail_new(false, statuses[i]);
        error = NULL;
        enum sg_rc rc = sg_reinject_sendmail(f.path, "a@example.org", rcpts, 1, data, big, &error);
        if (rc == SG_OK)
            fail_msg("exit %d without reading the message was SG_OK", statuses[i]);
        assert_int_equal(rc, SG_TEMP);
        assert_non_null(error);
        free(error);
        fake_sendmail_free(&f);
    }
    free(data);

    /* No recipients: nothing to run. */
    error = NULL;
    assert_int_equal(sg_reinject_sendmail("/bin/true", "a@example.org", rcpts, 0, "x\n", 2, &error),
                     SG_PERM);
    free(error);
}

/* test_sendmail_unread_reason - a program that exits 0 without reading the
 * message: the error must say the message was not read, not report a
 * normal exit as the failure. */
static void
test_sendmail_unread_reason(void **state)
{
    (void)state;
    size_t big = 4 * 1024 * 1024;
    char *data = sg_xmalloc(big);
    memset(data, 'a', big);
    struct fake_sendmail f = fake_sendmail_new(false, 0);
    char *rcpts[] = {"klant@example.nl"};
    char *error = NULL;
    enum sg_rc rc = sg_reinject_sendmail(f.path, "a@example.org", rcpts, 1, data, big, &error);
    fake_sendmail_free(&f);
    free(data);
    assert_int_equal(rc, SG_TEMP);
    assert_non_null(error);
    if (strstr(error, "before it read the whole message") == NULL) {
        char said[512];
        sg_strlcpy(said, error, sizeof(said));
        free(error);
        fail_msg("error \"%s\" does not say the message was not read", said);
    }
    free(error);
}

int
main(void)
{
    /* As sendguardctl does: a reader that goes away is an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialogue),
        cmocka_unit_test(test_large_message),
        cmocka_unit_test(test_null_sender_and_empty),
        cmocka_unit_test(test_multiline_replies),
        cmocka_unit_test(test_8bitmime),
        cmocka_unit_test(test_unknown_outcome),
        cmocka_unit_test(test_smtputf8),
        cmocka_unit_test(test_recipient_refused),
        cmocka_unit_test(test_temporary_failures),
        cmocka_unit_test(test_cannot_connect),
        cmocka_unit_test(test_bad_addresses),
        cmocka_unit_test(test_sendmail_ok),
        cmocka_unit_test(test_sendmail_failures),
        cmocka_unit_test(test_sendmail_unread_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
