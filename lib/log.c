/*
 * log.c - syslog and stderr logging, with a capture hook for tests.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static bool log_stderr;
static bool log_opened;
static sg_log_capture_fn *capture_fn;
static void *capture_arg;

static const struct {
    const char *name;
    int facility;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

/* sg_log_facility - facility number for a name */
int
sg_log_facility(const char *name)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcmp(facilities[i].name, name) == 0)
            return facilities[i].facility;
    return -1;
}

/* sg_log_open - open syslog with ident "sendguard" */
void
sg_log_open(int facility, bool to_stderr)
{
    if (log_opened)
        closelog();
    openlog("sendguard", LOG_PID | LOG_NDELAY, facility);
    log_opened = true;
    log_stderr = to_stderr;
}

/* sg_log_capture - redirect lines to a test hook */
void
sg_log_capture(sg_log_capture_fn *fn, void *arg)
{
    capture_fn = fn;
    capture_arg = arg;
}

/* sg_log - format one line and write it everywhere it should go */
void
sg_log(enum sg_log_level level, const char *fmt, ...)
{
    static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR};
    static const char *const names[] = {"debug", "info", "notice", "warning", "error"};
    char line[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);

    if (capture_fn != NULL) {
        capture_fn(level, line, capture_arg);
        return;
    }
    if (log_opened)
        syslog(prio[level], "%s", line);
    if (log_stderr || !log_opened) {
        char out[4200];
        int n = snprintf(out, sizeof(out), "sendguard: %s: %s\n", names[level], line);
        if (n > 0)
            (void)!write(STDERR_FILENO, out, (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1);
    }
}
