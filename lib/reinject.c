/*
 * reinject.c - SMTP client and sendmail runner for releases (reinject.h).
 */
#include "reinject.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* sg_reinject_valid_address - printable ASCII or UTF-8, no space or brackets */
bool
sg_reinject_valid_address(const char *addr)
{
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
            return false;
    return true;
}

/* One SMTP connection. */
struct smtp {
    int fd;
    char in[8192];
    size_t in_len;
    const char *where; /* "host:port", for messages */
};

/* smtp_send - write all of buf */
static bool
smtp_send(struct smtp *s, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(s->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* smtp_line - the next reply line without CRLF into line; false on EOF,
 * error or timeout */
static bool
smtp_line(struct smtp *s, char *line, size_t size)
{
    for (;;) {
        char *nl = memchr(s->in, '\n', s->in_len);
        if (nl != NULL) {
            size_t n = (size_t)(nl - s->in) + 1;
            size_t copy = n - 1;
            if (copy > 0 && s->in[copy - 1] == '\r')
                copy--;
            if (copy >= size)
                copy = size - 1;
            memcpy(line, s->in, copy);
            line[copy] = '\0';
            memmove(s->in, s->in + n, s->in_len - n);
            s->in_len -= n;
            return true;
        }
        if (s->in_len == sizeof(s->in)) /* an absurdly long line: drop what is buffered */
            s->in_len = 0;
        ssize_t n = recv(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        s->in_len += (size_t)n;
    }
}

/* smtp_reply - a whole (multi-line) reply: its code (0 when none came) and,
 * in *text_r (caller frees), its lines joined by "; " */
static int
smtp_reply(struct smtp *s, char **text_r)
{
    char line[1024];
    size_t cap = 256, len = 0;
    char *text = sg_xmalloc(cap);
    text[0] = '\0';
    int code = 0;
    for (;;) {
        if (!smtp_line(s, line, sizeof(line))) {
            code = 0;
            break;
        }
        size_t ll = strlen(line);
        if (len + ll + 3 > cap) {
            while (len + ll + 3 > cap)
                cap *= 2;
            text = sg_xrealloc(text, cap);
        }
        len += (size_t)snprintf(text + len, cap - len, "%s%s", len ? "; " : "", line);
        if (ll < 3 || line[0] < '2' || line[0] > '5') {
            code = 0;
            break;
        }
        code = atoi(line);
        if (ll == 3 || line[3] == ' ')
            break;
        if (line[3] != '-') {
            code = 0;
            break;
        }
    }
    *text_r = text;
    return code;
}

/* smtp_step - send a command (NULL: none, just read) and expect a reply in
 * the 2xx (or 3xx when want3) class; on failure fill *error_r and give the
 * rc (*noreply_r, if not NULL, says that no reply came at all) */
static enum sg_rc
smtp_step(struct smtp *s, const char *cmd, bool want3, const char *what, char **text_r,
          bool *noreply_r, char **error_r)
{
    char *text = NULL;
    if (cmd != NULL && !smtp_send(s, cmd, strlen(cmd))) {
        *error_r = sg_xasprintf("%s: connection lost sending %s: %s", s->where, what,
                                strerror(errno));
        return SG_TEMP;
    }
    int code = smtp_reply(s, &text);
    if (noreply_r != NULL)
        *noreply_r = code == 0;
    int want = want3 ? 3 : 2;
    if (code / 100 == want) {
        if (text_r != NULL)
            *text_r = text;
        else
            free(text);
        return SG_OK;
    }
    if (code == 0)
        *error_r = sg_xasprintf("%s: no (valid) reply to %s%s%s", s->where, what,
                                text[0] ? ": " : " (connection closed or timed out)", text);
    else
        *error_r = sg_xasprintf("%s refused %s: %s", s->where, what, text);
    free(text);
    return code / 100 == 5 ? SG_PERM : SG_TEMP;
}

/* smtp_connect - a connected socket with send and receive timeouts, or -1 */
static int
smtp_connect(const char *host, const char *port, char **error_r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int err = getaddrinfo(host, port, &hints, &res);
    if (err != 0) {
        *error_r = sg_xasprintf("%s:%s: %s", host, port, gai_strerror(err));
        return -1;
    }
    int fd = -1, last = 0;
    for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        struct timeval tv = {.tv_sec = SG_REINJECT_TIMEOUT};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            last = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        *error_r = sg_xasprintf("cannot connect to %s:%s: %s", host, port, strerror(last));
    return fd;
}

/* is_ascii - no byte above 127? */
static bool
is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s > 127)
            return false;
    return true;
}

/* has_8bit - any byte above 127? */
static bool
has_8bit(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)data[i] > 127)
            return true;
    return false;
}

/* has_extension - does an EHLO reply (lines joined by "; ") list the
 * extension name?  The first line is the server's greeting, not an extension. */
static bool
has_extension(const char *ehlo, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(ehlo, "; "); p != NULL; p = strstr(p + 2, "; ")) {
        const char *kw = p + 2 + 4; /* past "250-" or "250 " */
        if (strlen(p + 2) > 4 && strncasecmp(kw, name, n) == 0 &&
            (kw[n] == '\0' || kw[n] == ' ' || kw[n] == ';'))
            return true;
    }
    return false;
}

/* send_data - the message, dot-stuffed, every line CRLF, then "." */
static bool
send_data(struct smtp *s, const char *data, size_t len)
{
    char out[16384];
    size_t o = 0;
    bool bol = true;
    for (size_t i = 0; i < len; i++) {
        if (o + 4 > sizeof(out)) {
            if (!smtp_send(s, out, o))
                return false;
            o = 0;
        }
        char ch = data[i];
        if (bol && ch == '.')
            out[o++] = '.';
        if (ch == '\n' && (i == 0 || data[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = ch;
        bol = ch == '\n';
    }
    if (!bol) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    return smtp_send(s, out, o) && smtp_send(s, ".\r\n", 3);
}

/* sg_reinject_smtp - EHLO, MAIL, RCPT..., DATA, QUIT */
enum sg_rc
sg_reinject_smtp(const char *host, const char *port, const char *env_from, char *const *rcpts,
                 size_t nrcpts, const char *data, size_t len, char **reply_r, bool *unknown_r,
                 char **error_r)
{
    if (reply_r != NULL)
        *reply_r = NULL;
    if (unknown_r != NULL)
        *unknown_r = false;
    if (!sg_reinject_valid_address(env_from)) {
        *error_r = sg_xasprintf("invalid envelope sender \"%s\"", env_from);
        return SG_PERM;
    }
    bool utf8 = !is_ascii(env_from);
    for (size_t i = 0; i < nrcpts; i++) {
        if (!sg_reinject_valid_address(rcpts[i]) || rcpts[i][0] == '\0') {
            *error_r = sg_xasprintf("invalid recipient \"%s\"", rcpts[i]);
            return SG_PERM;
        }
        utf8 = utf8 || !is_ascii(rcpts[i]);
    }
    if (nrcpts == 0) {
        *error_r = sg_xstrdup("no recipients");
        return SG_PERM;
    }
    struct smtp s = {.fd = -1};
    char *where = sg_xasprintf("%s:%s", host, port);
    s.where = where;
    s.fd = smtp_connect(host, port, error_r);
    if (s.fd < 0) {
        free(where);
        return SG_TEMP;
    }
    char me[256] = "localhost";
    gethostname(me, sizeof(me) - 1);
    char *cmd = NULL, *ehlo = NULL;
    enum sg_rc rc = smtp_step(&s, NULL, false, "the connection (greeting)", NULL, NULL, error_r);
    if (rc == SG_OK) {
        cmd = sg_xasprintf("EHLO %s\r\n", me);
        rc = smtp_step(&s, cmd, false, "EHLO", &ehlo, NULL, error_r);
        free(cmd);
    }
    if (rc == SG_OK && utf8 && !has_extension(ehlo, "SMTPUTF8")) {
        *error_r = sg_xasprintf("%s does not offer SMTPUTF8, which the non-ASCII addresses of "
                                "this message need",
                                where);
        rc = SG_PERM;
    }
    if (rc == SG_OK) {
        bool eightbit = has_extension(ehlo, "8BITMIME") && has_8bit(data, len);
        cmd = sg_xasprintf("MAIL FROM:<%s>%s%s\r\n", env_from, eightbit ? " BODY=8BITMIME" : "",
                           utf8 ? " SMTPUTF8" : "");
        rc = smtp_step(&s, cmd, false, "MAIL FROM", NULL, NULL, error_r);
        free(cmd);
    }
    for (size_t i = 0; rc == SG_OK && i < nrcpts; i++) {
        cmd = sg_xasprintf("RCPT TO:<%s>\r\n", rcpts[i]);
        char *what = sg_xasprintf("RCPT TO:<%s>", rcpts[i]);
        rc = smtp_step(&s, cmd, false, what, NULL, NULL, error_r);
        free(what);
        free(cmd);
    }
    if (rc == SG_OK)
        rc = smtp_step(&s, "DATA\r\n", true, "DATA", NULL, NULL, error_r);
    if (rc == SG_OK) {
        if (!send_data(&s, data, len)) {
            *error_r = sg_xasprintf("%s: connection lost sending the message: %s", where,
                                    strerror(errno));
            rc = SG_TEMP;
        } else {
            bool noreply = false;
            rc = smtp_step(&s, NULL, false, "the message", reply_r, &noreply, error_r);
            if (rc != SG_OK && noreply && unknown_r != NULL)
                *unknown_r = true;
        }
    }
    /* Polite either way; after a refusal nothing was accepted. */
    (void)smtp_send(&s, "QUIT\r\n", 6);
    free(ehlo);
    close(s.fd);
    free(where);
    return rc;
}

/* sg_reinject_sendmail - fork, exec, feed, wait */
enum sg_rc
sg_reinject_sendmail(const char *path, const char *env_from, char *const *rcpts, size_t nrcpts,
                     const char *data, size_t len, char **error_r)
{
    if (nrcpts == 0) {
        *error_r = sg_xstrdup("no recipients");
        return SG_PERM;
    }
    const char **argv = sg_xcalloc(nrcpts + 6, sizeof(*argv));
    size_t a = 0;
    argv[a++] = "sendmail";
    argv[a++] = "-i";
    argv[a++] = "-f";
    argv[a++] = env_from[0] ? env_from : "<>";
    argv[a++] = "--"; /* a recipient starting with '-' is not an option */
    for (size_t i = 0; i < nrcpts; i++)
        argv[a++] = rcpts[i];
    argv[a] = NULL;

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        *error_r = sg_xasprintf("pipe: %s", strerror(errno));
        free(argv);
        return SG_TEMP;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *error_r = sg_xasprintf("fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        free(argv);
        return SG_TEMP;
    }
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL); /* the caller ignores it; the program expects the default */
        if (pipefd[0] == STDIN_FILENO) /* the caller had no stdin: dup2 would keep CLOEXEC */
            (void)fcntl(STDIN_FILENO, F_SETFD, 0);
        else if (dup2(pipefd[0], STDIN_FILENO) < 0)
            _exit(127);
        execv(path, (char *const *)argv);
        fprintf(stderr, "cannot execute %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    free(argv);
    close(pipefd[0]);
    bool written = true;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(pipefd[1], data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            written = false; /* EPIPE: it stopped reading; its status says why */
            break;
        }
        off += (size_t)n;
    }
    close(pipefd[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            *error_r = sg_xasprintf("waitpid: %s", strerror(errno));
            return SG_TEMP;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && written)
        return SG_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        *error_r = sg_xasprintf("%s exited before it read the whole message", path);
    else if (WIFEXITED(status))
        *error_r = sg_xasprintf("%s exited with status %d%s", path, WEXITSTATUS(status),
                                WEXITSTATUS(status) == 127 ? " (could not be executed)" : "");
    else
        *error_r = sg_xasprintf("%s was killed by signal %d", path, WTERMSIG(status));
    return SG_TEMP;
}
