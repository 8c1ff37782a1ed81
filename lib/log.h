/*
 * log.h - the one way sendguard writes logs: syslog (ident "sendguard"), and
 * stderr too when running in the foreground.  Library code returns errors;
 * the milter callbacks log them, because only they know the queue id.
 *
 * Thread-safe: syslog(3) is, and stderr lines are written with one call.
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdbool.h>

enum sg_log_level { SG_LOG_DEBUG, SG_LOG_INFO, SG_LOG_NOTICE, SG_LOG_WARNING, SG_LOG_ERR };

/* sg_log_open - start logging; facility by name ("mail", "local0"...); stderr copy if asked */
void sg_log_open(int facility, bool to_stderr);

/* sg_log_facility - syslog facility number for a name, or -1 when unknown */
int sg_log_facility(const char *name);

/* sg_log - log one line at a level */
void sg_log(enum sg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sg_info(...) sg_log(SG_LOG_INFO, __VA_ARGS__)
#define sg_notice(...) sg_log(SG_LOG_NOTICE, __VA_ARGS__)
#define sg_warn(...) sg_log(SG_LOG_WARNING, __VA_ARGS__)
#define sg_error(...) sg_log(SG_LOG_ERR, __VA_ARGS__)
#define sg_debug(...) sg_log(SG_LOG_DEBUG, __VA_ARGS__)

/* sg_log_capture - tests: send every line to fn instead of syslog/stderr (NULL restores) */
typedef void sg_log_capture_fn(enum sg_log_level level, const char *line, void *arg);
void sg_log_capture(sg_log_capture_fn *fn, void *arg);

#endif
