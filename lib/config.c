/*
 * config.c - sendguard.conf through libconfuse.
 *
 * Values are checked while libconfuse parses (validation callbacks), because
 * only then does it know the line; the first error is kept and reported as
 * "FILE:LINE: message".  The parsed tree is then copied into struct
 * sg_config so that no other module sees libconfuse.
 */
#include "config.h"

#include "log.h"
#include "rules.h"

#include <arpa/inet.h>
#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest spool_memory_limit: per message in flight, so keep it modest. */
#define SG_CONFIG_MAX_SPOOL_MEMORY ((size_t)64 << 20)

/* The first error of the parse running in this thread, and the name to give
 * the text being parsed when it is an override rather than the file. */
static _Thread_local char *first_error;
static _Thread_local const char *parse_label;
static _Thread_local bool parse_label_lines; /* do line numbers mean anything? */

/* blank_comments - replace comments with spaces, keeping line breaks.
 * libconfuse 3.3 (Debian 12) counts every comment as three lines, so its
 * line numbers drift by two per comment, and it cannot parse a comment inside
 * a list (libconfuse issue #150).  Handing it text without comments fixes both. */
static void
blank_comments(char *s)
{
    char quote = 0;
    for (char *p = s; *p; p++) {
        if (quote) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == quote)
                quote = 0;
        } else if (*p == '"' || *p == '\'') {
            quote = *p;
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p && *p != '\n')
                *p++ = ' ';
            if (*p == '\0')
                break;
        } else if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end ? end + 2 : p + strlen(p);
            for (; p < stop; p++)
                if (*p != '\n')
                    *p = ' ';
            p--;
        }
    }
}

/* read_config_text - the file's text with comments blanked; NULL and errno on failure */
static char *
read_config_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    size_t len = 0, cap = 8192;
    char *buf = sg_xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0)
            buf = sg_xrealloc(buf, cap *= 2);
    }
    int err = ferror(f) ? errno : 0;
    fclose(f);
    if (err != 0) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[len] = '\0';
    blank_comments(buf);
    return buf;
}

/* on_error - libconfuse's error hook: keep the first message, with its place */
static void
on_error(cfg_t *cfg, const char *fmt, va_list ap)
{
    char msg[1024];

    if (first_error != NULL)
        return;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (parse_label != NULL && parse_label_lines && cfg != NULL && cfg->line > 0)
        first_error = sg_xasprintf("%s:%d: %s", parse_label, cfg->line, msg);
    else if (parse_label != NULL)
        first_error = sg_xasprintf("%s: %s", parse_label, msg);
    else if (cfg != NULL && cfg->filename != NULL && cfg->line > 0)
        first_error = sg_xasprintf("%s:%d: %s", cfg->filename, cfg->line, msg);
    else if (cfg != NULL && cfg->filename != NULL)
        first_error = sg_xasprintf("%s: %s", cfg->filename, msg);
    else
        first_error = sg_xstrdup(msg);
}

/* sg_config_parse_size - number with an optional k/M/G suffix */
bool
sg_config_parse_size(const char *text, size_t *bytes_r)
{
    char *end;
    unsigned long long n;

    if (!isdigit((unsigned char)text[0]))
        return false;
    n = strtoull(text, &end, 10);
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        return false;
    }
    if (*end != '\0' || n > (1ULL << 40) >> shift)
        return false;
    *bytes_r = (size_t)(n << shift);
    return true;
}

/* sg_config_socket_path - the file behind unix:/local: */
const char *
sg_config_socket_path(const char *socket)
{
    if (strncmp(socket, "unix:", 5) == 0)
        return socket + 5;
    if (strncmp(socket, "local:", 6) == 0)
        return socket + 6;
    if (socket[0] == '/')
        return socket;
    return NULL;
}

/* sg_config_socket_postfix - translate to Postfix's notation */
char *
sg_config_socket_postfix(const char *socket)
{
    static const char spool[] = "/var/spool/postfix/";
    const char *path = sg_config_socket_path(socket);

    if (path != NULL) {
        /* Postfix resolves relative paths against its queue directory, which
         * is also the chroot on Debian: the relative form works both ways. */
        if (strncmp(path, spool, sizeof(spool) - 1) == 0)
            return sg_xasprintf("unix:%s", path + sizeof(spool) - 1);
        return sg_xasprintf("unix:%s", path);
    }
    bool v6 = strncmp(socket, "inet6:", 6) == 0;
    const char *port = socket + (v6 ? 6 : 5);
    const char *at = strchr(port, '@');
    /* Without @ADDRESS libmilter listens on every address; Postfix should use loopback. */
    const char *host = at ? at + 1 : (v6 ? "::1" : "127.0.0.1");
    int port_len = at ? (int)(at - port) : (int)strlen(port);
    return sg_xasprintf(v6 ? "inet:[%s]:%.*s" : "inet:%s:%.*s", host, port_len, port);
}

/* sg_config_socket_loopback - unix, or inet on a loopback address */
bool
sg_config_socket_loopback(const char *socket)
{
    if (sg_config_socket_path(socket) != NULL)
        return true;
    const char *at = strchr(socket, '@');
    if (at == NULL)
        return false;
    return strncmp(at + 1, "127.", 4) == 0 || strcmp(at + 1, "::1") == 0 ||
           strcmp(at + 1, "localhost") == 0 || strcmp(at + 1, "[::1]") == 0;
}

/* valid_socket - unix:/abs, local:/abs, inet:PORT@HOST, inet6:PORT@HOST */
static int
valid_socket(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    const char *path = sg_config_socket_path(v);

    if (path != NULL) {
        if (path[0] != '/') {
            cfg_error(cfg, "socket \"%s\": the socket path must be absolute", v);
            return -1;
        }
        return 0;
    }
    const char *port = NULL;
    if (strncmp(v, "inet:", 5) == 0)
        port = v + 5;
    else if (strncmp(v, "inet6:", 6) == 0)
        port = v + 6;
    if (port != NULL) {
        char *end;
        long n = strtol(port, &end, 10);
        if (end != port && *end == '\0' && n > 0 && n < 65536) {
            cfg_error(cfg,
                      "socket \"%s\" has no address: libmilter would listen on every address "
                      "and sign mail for anyone who connects; use %s@127.0.0.1",
                      v, v);
            return -1;
        }
        if (end != port && *end == '@' && end[1] != '\0' && n > 0 && n < 65536)
            return 0;
    }
    cfg_error(cfg,
              "socket \"%s\" is not a milter socket; use unix:/path, inet:PORT@ADDRESS or "
              "inet6:PORT@ADDRESS",
              v);
    return -1;
}

/* valid_mode - octal permission bits */
static int
valid_mode(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    char *end;
    long n = strtol(v, &end, 8);
    if (*v == '\0' || *end != '\0' || n < 0 || n > 0777) {
        cfg_error(cfg, "socket_mode \"%s\" is not an octal mode such as \"0660\"", v);
        return -1;
    }
    return 0;
}

/* valid_size - a size with suffix */
static int
valid_size(cfg_t *cfg, cfg_opt_t *opt)
{
    size_t n;
    const char *v = cfg_opt_getnstr(opt, 0);
    if (!sg_config_parse_size(v, &n) || n == 0) {
        cfg_error(cfg, "%s \"%s\" is not a size such as \"512k\" or \"1M\"", opt->name, v);
        return -1;
    }
    /* Each message in flight may hold this much memory: keep it bounded. */
    if (n > SG_CONFIG_MAX_SPOOL_MEMORY) {
        cfg_error(cfg, "%s \"%s\" is more than 64M; larger messages spool to disk anyway",
                  opt->name, v);
        return -1;
    }
    return 0;
}

/* sg_config_parse_duration - "90", "90s", "15m", "12h", "30d", "2w" to seconds */
bool
sg_config_parse_duration(const char *text, long long *seconds_r)
{
    char *end;
    if (!isdigit((unsigned char)text[0]))
        return false;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    unsigned long long unit = 1;
    switch (*end) {
    case '\0':
    case 's':
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return false;
    }
    if (*end != '\0' && end[1] != '\0')
        return false;
    /* 100 years is more than anyone keeps mail; it also keeps time - n positive. */
    if (errno != 0 || n > 100ULL * 366 * 86400 / unit)
        return false;
    *seconds_r = (long long)(n * unit);
    return true;
}

/* valid_duration - a duration such as "30d" */
static int
valid_duration(cfg_t *cfg, cfg_opt_t *opt)
{
    long long n;
    const char *v = cfg_opt_getnstr(opt, 0);
    if (!sg_config_parse_duration(v, &n)) {
        cfg_error(cfg, "%s \"%s\" is not a duration such as \"30d\", \"12h\" or \"0\"", opt->name,
                  v);
        return -1;
    }
    return 0;
}

/* valid_release_via - "smtp:HOST:PORT" or "sendmail:/ABSOLUTE/PATH" */
static int
valid_release_via(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    char *host = NULL, *port = NULL, *error = NULL;
    if (strncmp(v, "sendmail:/", 10) == 0)
        return 0;
    if (sg_config_release_smtp(v, &host, &port, &error)) {
        free(host);
        free(port);
        return 0;
    }
    cfg_error(cfg, "release_via \"%s\": %s", v,
              error ? error : "use \"smtp:HOST:PORT\" or \"sendmail:/usr/sbin/sendmail\"");
    free(error);
    return -1;
}

/* sg_config_release_smtp - split "smtp:HOST:PORT" ("smtp:[::1]:25" for IPv6) */
bool
sg_config_release_smtp(const char *via, char **host_r, char **port_r, char **error_r)
{
    *error_r = NULL;
    if (strncmp(via, "smtp:", 5) != 0)
        return false;
    const char *h = via + 5, *colon;
    size_t hlen;
    if (*h == '[') {
        const char *close = strchr(h, ']');
        if (close == NULL || close[1] != ':') {
            *error_r = sg_xstrdup("an IPv6 address goes in brackets: \"smtp:[::1]:25\"");
            return false;
        }
        h++;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(h, ':');
        if (colon == NULL) {
            *error_r = sg_xstrdup("no port: use \"smtp:HOST:PORT\", e.g. \"smtp:127.0.0.1:25\"");
            return false;
        }
        hlen = (size_t)(colon - h);
    }
    const char *p = colon + 1;
    char *end;
    unsigned long port = strtoul(p, &end, 10);
    if (hlen == 0 || !isdigit((unsigned char)*p) || *end != '\0' || port == 0 || port > 65535) {
        *error_r = sg_xstrdup("expected \"smtp:HOST:PORT\" with a port from 1 to 65535");
        return false;
    }
    *host_r = sg_xstrndup(h, hlen);
    *port_r = sg_xstrdup(p);
    return true;
}

/* valid_on_error - tempfail or accept */
static int
valid_on_error(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (strcmp(v, "tempfail") != 0 && strcmp(v, "accept") != 0) {
        cfg_error(cfg, "on_internal_error \"%s\": use \"tempfail\" or \"accept\"", v);
        return -1;
    }
    return 0;
}

/* valid_facility - a syslog facility name */
static int
valid_facility(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (sg_log_facility(v) < 0) {
        cfg_error(cfg, "syslog_facility \"%s\" is unknown; use mail, daemon or local0..local7", v);
        return -1;
    }
    return 0;
}

/* parse_canon - "relaxed/simple" and friends; a single word means both */
static bool
parse_canon(const char *v, enum sg_canon *h_r, enum sg_canon *b_r)
{
    char head[16], body[16];
    const char *slash = strchr(v, '/');
    size_t hl = slash ? (size_t)(slash - v) : strlen(v);
    if (hl >= sizeof(head) || (slash && strlen(slash + 1) >= sizeof(body)))
        return false;
    memcpy(head, v, hl);
    head[hl] = '\0';
    strcpy(body, slash ? slash + 1 : "simple");
    enum sg_canon *out[2] = {h_r, b_r};
    const char *words[2] = {head, body};
    for (int i = 0; i < 2; i++) {
        if (strcmp(words[i], "simple") == 0)
            *out[i] = SG_CANON_SIMPLE;
        else if (strcmp(words[i], "relaxed") == 0)
            *out[i] = SG_CANON_RELAXED;
        else
            return false;
    }
    return true;
}

/* valid_canon - header/body canonicalization */
static int
valid_canon(cfg_t *cfg, cfg_opt_t *opt)
{
    enum sg_canon h, b;
    const char *v = cfg_opt_getnstr(opt, 0);
    if (!parse_canon(v, &h, &b)) {
        cfg_error(cfg,
                  "canonicalization \"%s\": use HEADER/BODY with simple or relaxed, e.g. "
                  "\"relaxed/relaxed\"",
                  v);
        return -1;
    }
    return 0;
}

/* valid_cidr - every entry of internal_hosts */
static int
valid_cidr(cfg_t *cfg, cfg_opt_t *opt)
{
    struct sg_cidr_list *list = sg_cidr_list_new();
    int ret = 0;
    for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
        const char *error;
        const char *v = cfg_opt_getnstr(opt, i);
        if (sg_cidr_list_add(list, v, &error) != SG_OK) {
            cfg_error(cfg, "%s: \"%s\": %s", opt->name, v, error);
            ret = -1;
            break;
        }
    }
    sg_cidr_list_free(&list);
    return ret;
}

/* valid_header_names - header field names (RFC 5322 ftext) */
static int
valid_header_names(cfg_t *cfg, cfg_opt_t *opt)
{
    for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
        const char *v = cfg_opt_getnstr(opt, i);
        if (*v == '\0')
            goto bad;
        for (const char *p = v; *p; p++)
            if (*p <= 32 || *p >= 127 || *p == ':')
                goto bad;
        continue;
    bad:
        cfg_error(cfg, "%s: \"%s\" is not a header field name", opt->name, v);
        return -1;
    }
    return 0;
}

/* sg_config_valid_dns_name - a DNS name: letters, digits, hyphens, underscores, dots */
bool
sg_config_valid_dns_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 253 || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    return strstr(name, "..") == NULL;
}

/* valid_domain_section - a domain block: sane name, at least one key */
static int
valid_domain_section(cfg_t *cfg, cfg_opt_t *opt)
{
    cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
    const char *name = cfg_title(sec);
    if (!sg_config_valid_dns_name(name)) {
        cfg_error(cfg, "domain \"%s\" is not a domain name", name);
        return -1;
    }
    if (cfg_size(sec, "key") == 0) {
        cfg_error(cfg, "domain \"%s\" has no key; add key \"SELECTOR\" { file = \"...\" }", name);
        return -1;
    }
    return 0;
}

/* valid_key_section - a key block: selector syntax, file given */
static int
valid_key_section(cfg_t *cfg, cfg_opt_t *opt)
{
    cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
    const char *sel = cfg_title(sec);
    if (!sg_config_valid_dns_name(sel)) {
        cfg_error(cfg, "key \"%s\": a selector is a DNS label such as \"s2026\"", sel);
        return -1;
    }
    const char *file = cfg_getstr(sec, "file");
    if (file == NULL || *file == '\0') {
        cfg_error(cfg, "key \"%s\" has no file = \"...\"", sel);
        return -1;
    }
    return 0;
}

static cfg_opt_t key_opts[] = {
    CFG_STR("file", NULL, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t domain_opts[] = {
    CFG_SEC("key", key_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_END(),
};

/* valid_threshold - a score threshold: 0 (never) or positive */
static int
valid_threshold(cfg_t *cfg, cfg_opt_t *opt)
{
    double v = cfg_opt_getnfloat(opt, 0);
    if (v < 0) {
        cfg_error(cfg, "%s = %g: a score threshold is 0 (never) or positive", opt->name, v);
        return -1;
    }
    return 0;
}

static cfg_opt_t scoring_opts[] = {
    CFG_STR("rules", "rules.conf", CFGF_NONE),  CFG_FLOAT("tag_at", 3.0, CFGF_NONE),
    CFG_FLOAT("quarantine_at", 8.0, CFGF_NONE), CFG_FLOAT("reject_at", 0.0, CFGF_NONE),
    CFG_STR("tag_header", "", CFGF_NONE),       CFG_END(),
};

/* valid_finding_action - accept, tag, quarantine or reject (and rewrite,
 * except for on_dns_error and on_bad_from: nothing is known to rewrite to) */
static int
valid_finding_action(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    bool rewritable = strcmp(opt->name, "on_dns_error") != 0 && strcmp(opt->name, "on_bad_from") != 0;
    static const char *const ok[] = {"accept", "tag", "quarantine", "reject"};
    for (size_t i = 0; i < SG_NELEM(ok); i++)
        if (strcmp(v, ok[i]) == 0)
            return 0;
    if (rewritable && strcmp(v, "rewrite") == 0)
        return 0;
    cfg_error(cfg, "%s \"%s\": use accept, tag, %squarantine or reject", opt->name, v,
              rewritable ? "rewrite, " : "");
    return -1;
}

/* valid_address - "" or a plain local@domain.example: no display name, no
 * angle brackets, ASCII */
static int
valid_address(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (v[0] == '\0' || sg_addr_plain(v))
        return 0;
    cfg_error(cfg, "%s \"%s\" is not a plain mail address (local@domain.example, ASCII, no <>)",
              opt->name, v);
    return -1;
}

/* valid_ip_list - IPv4 or IPv6 addresses, no prefixes */
static int
valid_ip_list(cfg_t *cfg, cfg_opt_t *opt)
{
    for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
        const char *v = cfg_opt_getnstr(opt, i);
        unsigned char buf[16];
        if (inet_pton(AF_INET, v, buf) != 1 && inet_pton(AF_INET6, v, buf) != 1) {
            cfg_error(cfg, "%s: \"%s\" is not an IP address (one address, no /prefix)",
                      opt->name, v);
            return -1;
        }
    }
    return 0;
}

/* finding_action - the configured word as enum sg_config_action */
static enum sg_config_action
finding_action(const char *v)
{
    if (strcmp(v, "tag") == 0)
        return SG_CONFIG_TAG;
    if (strcmp(v, "rewrite") == 0)
        return SG_CONFIG_REWRITE;
    if (strcmp(v, "quarantine") == 0)
        return SG_CONFIG_QUARANTINE;
    if (strcmp(v, "reject") == 0)
        return SG_CONFIG_REJECT;
    return SG_CONFIG_ACCEPT;
}

static cfg_opt_t alignment_opts[] = {
    CFG_STR_LIST("egress_ips", "{}", CFGF_NONE),
    CFG_STR("helo_name", "", CFGF_NONE),
    CFG_STR("dns_timeout", "5s", CFGF_NONE),
    CFG_STR("on_dmarc_fail", "quarantine", CFGF_NONE),
    CFG_STR("on_spf_fail", "accept", CFGF_NONE),
    CFG_STR("on_dns_error", "accept", CFGF_NONE),
    CFG_STR("on_bad_from", "quarantine", CFGF_NONE),
    CFG_STR("rewrite_from", "", CFGF_NONE),
    CFG_STR("bounce_address", "", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t quarantine_opts[] = {
    CFG_STR("database", "quarantine/sendguard.db", CFGF_NONE),
    CFG_STR("admin_group", "", CFGF_NONE),
    CFG_STR("retention", "30d", CFGF_NONE),
    CFG_STR("release_via", "smtp:127.0.0.1:25", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t root_opts[] = {
    CFG_STR("socket", "unix:/var/spool/postfix/sendguard/sendguard.sock", CFGF_NONE),
    CFG_STR("socket_mode", "0660", CFGF_NONE),
    CFG_STR("socket_group", "postfix", CFGF_NONE),
    CFG_STR("user", "sendguard", CFGF_NONE),
    CFG_STR("pid_file", "/run/sendguard/sendguard.pid", CFGF_NONE),
    CFG_STR("state_directory", "/var/lib/sendguard", CFGF_NONE),
    CFG_STR("spool_memory_limit", "1M", CFGF_NONE),
    CFG_STR("spool_directory", "/var/tmp", CFGF_NONE),
    CFG_STR("on_internal_error", "tempfail", CFGF_NONE),
    CFG_STR("syslog_facility", "mail", CFGF_NONE),
    CFG_STR_LIST("internal_hosts", "{\"127.0.0.0/8\", \"::1/128\"}", CFGF_NONE),
    CFG_STR_LIST("originating_daemons", "{\"ORIGINATING\"}", CFGF_NONE),
    CFG_BOOL("sign_subdomains", cfg_false, CFGF_NONE),
    CFG_BOOL("add_missing_headers", cfg_true, CFGF_NONE),
    CFG_STR("canonicalization", "relaxed/relaxed", CFGF_NONE),
    CFG_STR_LIST("sign_headers",
                 "{\"From\", \"Reply-To\", \"Subject\", \"Date\", \"To\", \"Cc\", "
                 "\"Message-ID\", \"In-Reply-To\", \"References\", \"MIME-Version\", "
                 "\"Content-Type\", \"Content-Transfer-Encoding\", \"Content-Disposition\", "
                 "\"List-Unsubscribe\", \"List-Unsubscribe-Post\"}",
                 CFGF_NONE),
    CFG_STR_LIST("oversign_headers",
                 "{\"From\", \"Subject\", \"Reply-To\", \"To\", \"Cc\", \"Date\"}", CFGF_NONE),
    CFG_STR("key_directory", "keys", CFGF_NONE),
    CFG_SEC("domain", domain_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("scoring", scoring_opts, CFGF_NONE),
    CFG_SEC("quarantine", quarantine_opts, CFGF_NONE),
    CFG_SEC("alignment", alignment_opts, CFGF_NONE),
    CFG_END(),
};

/* absolute - a path made absolute against base ("" stays "") */
static char *
absolute(const char *base, const char *path)
{
    if (path[0] == '/' || path[0] == '\0')
        return sg_xstrdup(path);
    return sg_xasprintf("%s/%s", base, path);
}

/* copy_list - a libconfuse string list into a new array */
static char **
copy_list(cfg_t *cfg, const char *name, size_t *n_r)
{
    size_t n = cfg_size(cfg, name);
    char **out = sg_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        out[i] = sg_xstrdup(cfg_getnstr(cfg, name, (unsigned)i));
    *n_r = n;
    return out;
}

/* build - copy a parsed and validated tree into struct sg_config */
static struct sg_config *
build(cfg_t *cfg, const char *path)
{
    struct sg_config *c = sg_xcalloc(1, sizeof(*c));
    const char *error;

    c->path = sg_xstrdup(path);
    c->state_directory = sg_xstrdup(cfg_getstr(cfg, "state_directory"));
    const char *base = c->state_directory;
    c->socket = sg_xstrdup(cfg_getstr(cfg, "socket"));
    c->socket_mode = (unsigned)strtoul(cfg_getstr(cfg, "socket_mode"), NULL, 8);
    c->socket_group = sg_xstrdup(cfg_getstr(cfg, "socket_group"));
    c->user = sg_xstrdup(cfg_getstr(cfg, "user"));
    c->pid_file = absolute(base, cfg_getstr(cfg, "pid_file"));
    sg_config_parse_size(cfg_getstr(cfg, "spool_memory_limit"), &c->spool_memory_limit);
    c->spool_directory = absolute(base, cfg_getstr(cfg, "spool_directory"));
    c->on_internal_error = strcmp(cfg_getstr(cfg, "on_internal_error"), "accept") == 0
                               ? SG_ON_ERROR_ACCEPT
                               : SG_ON_ERROR_TEMPFAIL;
    c->syslog_facility = sg_log_facility(cfg_getstr(cfg, "syslog_facility"));

    c->internal_hosts = sg_cidr_list_new();
    for (unsigned i = 0; i < cfg_size(cfg, "internal_hosts"); i++)
        (void)sg_cidr_list_add(c->internal_hosts, cfg_getnstr(cfg, "internal_hosts", i), &error);
    c->originating_daemons = copy_list(cfg, "originating_daemons", &c->n_originating_daemons);

    c->sign_subdomains = cfg_getbool(cfg, "sign_subdomains");
    c->add_missing_headers = cfg_getbool(cfg, "add_missing_headers");
    parse_canon(cfg_getstr(cfg, "canonicalization"), &c->header_canon, &c->body_canon);
    c->sign_headers = copy_list(cfg, "sign_headers", &c->n_sign_headers);
    c->oversign_headers = copy_list(cfg, "oversign_headers", &c->n_oversign_headers);
    c->key_directory = absolute(base, cfg_getstr(cfg, "key_directory"));

    cfg_t *sc = cfg_getsec(cfg, "scoring");
    const char *rules = cfg_getstr(sc, "rules");
    if (rules[0] == '/' || rules[0] == '\0') { /* "" switches scoring off */
        c->rules_file = sg_xstrdup(rules);
    } else {
        /* Rules live beside the configuration, not in the state directory. */
        const char *slash = strrchr(path, '/');
        c->rules_file =
            slash ? sg_xasprintf("%.*s/%s", (int)(slash - path), path, rules) : sg_xstrdup(rules);
    }
    c->tag_at = cfg_getfloat(sc, "tag_at");
    c->quarantine_at = cfg_getfloat(sc, "quarantine_at");
    c->reject_at = cfg_getfloat(sc, "reject_at");
    c->tag_header = sg_xstrdup(cfg_getstr(sc, "tag_header"));

    cfg_t *ac = cfg_getsec(cfg, "alignment");
    c->egress_ips = copy_list(ac, "egress_ips", &c->n_egress_ips);
    c->helo_name = sg_xstrdup(cfg_getstr(ac, "helo_name"));
    long long timeout = 5;
    sg_config_parse_duration(cfg_getstr(ac, "dns_timeout"), &timeout);
    c->dns_timeout_ms = (unsigned)(timeout > 60 ? 60000 : timeout * 1000);
    c->on_dmarc_fail = finding_action(cfg_getstr(ac, "on_dmarc_fail"));
    c->on_spf_fail = finding_action(cfg_getstr(ac, "on_spf_fail"));
    c->on_dns_error = finding_action(cfg_getstr(ac, "on_dns_error"));
    c->on_bad_from = finding_action(cfg_getstr(ac, "on_bad_from"));
    c->rewrite_from = sg_xstrdup(cfg_getstr(ac, "rewrite_from"));
    c->bounce_address = sg_xstrdup(cfg_getstr(ac, "bounce_address"));

    cfg_t *qc = cfg_getsec(cfg, "quarantine");
    c->database = absolute(base, cfg_getstr(qc, "database"));
    c->admin_group = sg_xstrdup(cfg_getstr(qc, "admin_group"));
    sg_config_parse_duration(cfg_getstr(qc, "retention"), &c->retention);
    c->release_via = sg_xstrdup(cfg_getstr(qc, "release_via"));

    c->ndomains = cfg_size(cfg, "domain");
    c->domains = sg_xcalloc(c->ndomains + 1, sizeof(*c->domains));
    for (size_t i = 0; i < c->ndomains; i++) {
        cfg_t *d = cfg_getnsec(cfg, "domain", (unsigned)i);
        struct sg_config_domain *dom = &c->domains[i];
        dom->name = sg_str_lower(sg_xstrdup(cfg_title(d)));
        size_t nl = strlen(dom->name);
        if (nl > 1 && dom->name[nl - 1] == '.') /* "example.nl." is example.nl */
            dom->name[nl - 1] = '\0';
        dom->nkeys = cfg_size(d, "key");
        dom->keys = sg_xcalloc(dom->nkeys, sizeof(*dom->keys));
        for (size_t k = 0; k < dom->nkeys; k++) {
            cfg_t *key = cfg_getnsec(d, "key", (unsigned)k);
            dom->keys[k].selector = sg_xstrdup(cfg_title(key));
            dom->keys[k].file = absolute(base, cfg_getstr(key, "file"));
        }
    }
    return c;
}

/* check_cross - rules that involve several options */
static bool
check_cross(const struct sg_config *c, char **error_r)
{
    if (c->state_directory[0] != '/') {
        *error_r = sg_xasprintf("%s: state_directory \"%s\" must be an absolute path", c->path,
                                c->state_directory);
        return false;
    }
    if (c->on_dmarc_fail == SG_CONFIG_REWRITE && c->rewrite_from[0] == '\0') {
        *error_r = sg_xasprintf("%s: alignment: on_dmarc_fail = \"rewrite\" needs rewrite_from, "
                                "the relay address (in a domain sendguard signs for) that "
                                "replaces a From that would fail DMARC",
                                c->path);
        return false;
    }
    return true;
}

/* parse_file - parse a file (comments blanked) into cfg; the first error is in first_error */
static int
parse_file(cfg_t *cfg, const char *path)
{
    int ret;
    free(first_error);
    first_error = NULL;
    char *text = read_config_text(path);
    if (text == NULL) {
        first_error = sg_xasprintf("%s: cannot read: %s", path, strerror(errno));
        return CFG_FILE_ERROR;
    }
    parse_label = path;
    parse_label_lines = true;
    ret = cfg_parse_buf(cfg, text);
    parse_label_lines = false;
    parse_label = NULL;
    free(text);
    return ret;
}

/* sg_config_load - parse, validate, apply overrides, copy out */
enum sg_rc
sg_config_load(const char *path, char *const *overrides, size_t n_overrides,
               struct sg_config **cfg_r, char **error_r)
{
    cfg_t *cfg = cfg_init(root_opts, CFGF_NONE);
    cfg_set_error_function(cfg, on_error);
    cfg_set_validate_func(cfg, "socket", valid_socket);
    cfg_set_validate_func(cfg, "socket_mode", valid_mode);
    cfg_set_validate_func(cfg, "spool_memory_limit", valid_size);
    cfg_set_validate_func(cfg, "on_internal_error", valid_on_error);
    cfg_set_validate_func(cfg, "syslog_facility", valid_facility);
    cfg_set_validate_func(cfg, "canonicalization", valid_canon);
    cfg_set_validate_func(cfg, "internal_hosts", valid_cidr);
    cfg_set_validate_func(cfg, "sign_headers", valid_header_names);
    cfg_set_validate_func(cfg, "oversign_headers", valid_header_names);
    cfg_set_validate_func(cfg, "domain", valid_domain_section);
    cfg_set_validate_func(cfg, "domain|key", valid_key_section);
    cfg_set_validate_func(cfg, "scoring|tag_at", valid_threshold);
    cfg_set_validate_func(cfg, "scoring|quarantine_at", valid_threshold);
    cfg_set_validate_func(cfg, "scoring|reject_at", valid_threshold);
    cfg_set_validate_func(cfg, "quarantine|retention", valid_duration);
    cfg_set_validate_func(cfg, "alignment|egress_ips", valid_ip_list);
    cfg_set_validate_func(cfg, "alignment|dns_timeout", valid_duration);
    cfg_set_validate_func(cfg, "alignment|on_dmarc_fail", valid_finding_action);
    cfg_set_validate_func(cfg, "alignment|on_spf_fail", valid_finding_action);
    cfg_set_validate_func(cfg, "alignment|on_dns_error", valid_finding_action);
    cfg_set_validate_func(cfg, "alignment|on_bad_from", valid_finding_action);
    cfg_set_validate_func(cfg, "alignment|rewrite_from", valid_address);
    cfg_set_validate_func(cfg, "alignment|bounce_address", valid_address);
    cfg_set_validate_func(cfg, "quarantine|release_via", valid_release_via);

    int ret = parse_file(cfg, path);
    /* Overrides are parsed as more text after the file, named "-o name=value" in errors. */
    for (size_t i = 0; ret == CFG_SUCCESS && i < n_overrides; i++) {
        if (strchr(overrides[i], '=') == NULL) {
            first_error = sg_xasprintf("-o %s: expected name=value", overrides[i]);
            ret = CFG_PARSE_ERROR;
            break;
        }
        /* An override is one line: no line number in its errors. */
        char *label = sg_xasprintf("-o %s", overrides[i]);
        parse_label = label;
        /* Quote the value unless it already is a quoted string or a list;
         * "section.name=value" sets one option of a section (a section
         * given again keeps the options it does not name). */
        const char *eq = strchr(overrides[i], '=');
        const char *val = eq + 1;
        const char *dot = memchr(overrides[i], '.', (size_t)(eq - overrides[i]));
        const char *name = dot ? dot + 1 : overrides[i];
        char *assign = (val[0] == '"' || val[0] == '{')
                           ? sg_xasprintf("%.*s=%s", (int)(eq - name), name, val)
                           : sg_xasprintf("%.*s=\"%s\"", (int)(eq - name), name, val);
        char *buf = dot ? sg_xasprintf("%.*s { %s }", (int)(dot - overrides[i]), overrides[i],
                                       assign)
                        : sg_xstrdup(assign);
        free(assign);
        ret = cfg_parse_buf(cfg, buf);
        parse_label = NULL;
        free(label);
        free(buf);
    }
    if (ret != CFG_SUCCESS) {
        *error_r = first_error != NULL ? first_error : sg_xasprintf("%s: cannot parse", path);
        first_error = NULL;
        cfg_free(cfg);
        return SG_PERM;
    }
    struct sg_config *c = build(cfg, path);
    cfg_free(cfg);
    if (!check_cross(c, error_r)) {
        sg_config_free(&c);
        return SG_PERM;
    }
    *cfg_r = c;
    return SG_OK;
}

/* sg_config_free - free everything a config owns */
void
sg_config_free(struct sg_config **cp)
{
    struct sg_config *c = *cp;
    if (c == NULL)
        return;
    free(c->path);
    free(c->socket);
    free(c->socket_group);
    free(c->user);
    free(c->pid_file);
    free(c->state_directory);
    free(c->spool_directory);
    sg_cidr_list_free(&c->internal_hosts);
    sg_strv_free(c->originating_daemons);
    sg_strv_free(c->sign_headers);
    sg_strv_free(c->oversign_headers);
    free(c->key_directory);
    free(c->rules_file);
    free(c->tag_header);
    sg_strv_free(c->egress_ips);
    free(c->helo_name);
    free(c->rewrite_from);
    free(c->bounce_address);
    free(c->database);
    free(c->admin_group);
    free(c->release_via);
    for (size_t i = 0; i < c->ndomains; i++) {
        for (size_t k = 0; k < c->domains[i].nkeys; k++) {
            free(c->domains[i].keys[k].selector);
            free(c->domains[i].keys[k].file);
        }
        free(c->domains[i].keys);
        free(c->domains[i].name);
    }
    free(c->domains);
    free(c);
    *cp = NULL;
}

/* ---- rules.conf ------------------------------------------------------------ */

/* valid_match - "word" or "prefix" */
static int
valid_match(cfg_t *cfg, cfg_opt_t *opt)
{
    const char *v = cfg_opt_getnstr(opt, 0);
    if (strcmp(v, "word") != 0 && strcmp(v, "prefix") != 0) {
        cfg_error(cfg, "match = \"%s\": use \"word\" or \"prefix\"", v);
        return -1;
    }
    return 0;
}

/* valid_terms_section - a term list has words and an explanation */
static int
valid_terms_section(cfg_t *cfg, cfg_opt_t *opt)
{
    cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
    if (cfg_size(sec, "words") == 0) {
        cfg_error(cfg, "terms \"%s\" has no words = { ... }", cfg_title(sec));
        return -1;
    }
    if (cfg_getstr(sec, "explain")[0] == '\0') {
        cfg_error(cfg, "terms \"%s\" has no explain = \"...\" for the admin", cfg_title(sec));
        return -1;
    }
    return 0;
}

/* valid_rule_section - a structural rule must be one score.c implements */
static int
valid_rule_section(cfg_t *cfg, cfg_opt_t *opt)
{
    cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
    const char *id = cfg_title(sec);
    bool known = false;
    for (size_t i = 0; i < sg_structural_rules_count; i++)
        known = known || strcmp(sg_structural_rules[i], id) == 0;
    if (!known) {
        cfg_error(cfg, "rule \"%s\" is not a structural rule sendguard knows (see rules.conf)", id);
        return -1;
    }
    if (cfg_getstr(sec, "explain")[0] == '\0') {
        cfg_error(cfg, "rule \"%s\" has no explain = \"...\" for the admin", id);
        return -1;
    }
    return 0;
}

/* valid_combo_section - a combination names at least two rules */
static int
valid_combo_section(cfg_t *cfg, cfg_opt_t *opt)
{
    cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
    if (cfg_size(sec, "all") < 2) {
        cfg_error(cfg, "combo \"%s\" needs all = { at least two rule ids }", cfg_title(sec));
        return -1;
    }
    if (cfg_getstr(sec, "explain")[0] == '\0') {
        cfg_error(cfg, "combo \"%s\" has no explain = \"...\" for the admin", cfg_title(sec));
        return -1;
    }
    return 0;
}

static cfg_opt_t terms_opts[] = {
    CFG_STR("explain", "", CFGF_NONE),      CFG_STR("lang", "", CFGF_NONE),
    CFG_STR("match", "word", CFGF_NONE),    CFG_FLOAT("subject", 0.0, CFGF_NONE),
    CFG_FLOAT("body", 0.0, CFGF_NONE),      CFG_FLOAT("attachment", 0.0, CFGF_NONE),
    CFG_STR_LIST("words", "{}", CFGF_NONE), CFG_END(),
};

static cfg_opt_t rule_opts[] = {
    CFG_FLOAT("weight", 0.0, CFGF_NONE),
    CFG_STR("explain", "", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t combo_opts[] = {
    CFG_STR_LIST("all", "{}", CFGF_NONE),
    CFG_FLOAT("weight", 0.0, CFGF_NONE),
    CFG_STR("explain", "", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t rules_opts[] = {
    CFG_SEC("terms", terms_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("rule", rule_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("combo", combo_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_STR_LIST("shorteners", "{}", CFGF_NONE),
    CFG_STR_LIST("risky_extensions", "{}", CFGF_NONE),
    CFG_STR_LIST("macro_extensions", "{}", CFGF_NONE),
    CFG_INT("many_recipients", 20, CFGF_NONE),
    CFG_INT("date_skew_hours", 48, CFGF_NONE),
    CFG_END(),
};

/* lower_list - a string list, lower-cased, into a new array */
static char **
lower_list(cfg_t *cfg, const char *name, size_t *n_r)
{
    char **list = copy_list(cfg, name, n_r);
    for (size_t i = 0; i < *n_r; i++)
        sg_str_lower(list[i]);
    return list;
}

/* sg_config_load_rules - rules.conf into a spec */
enum sg_rc
sg_config_load_rules(const char *path, struct sg_rules_spec **spec_r, char **error_r)
{
    cfg_t *cfg = cfg_init(rules_opts, CFGF_NONE);
    cfg_set_error_function(cfg, on_error);
    cfg_set_validate_func(cfg, "terms", valid_terms_section);
    cfg_set_validate_func(cfg, "terms|match", valid_match);
    cfg_set_validate_func(cfg, "rule", valid_rule_section);
    cfg_set_validate_func(cfg, "combo", valid_combo_section);
    if (parse_file(cfg, path) != CFG_SUCCESS) {
        *error_r = first_error != NULL ? first_error : sg_xasprintf("%s: cannot parse", path);
        first_error = NULL;
        cfg_free(cfg);
        return SG_PERM;
    }

    struct sg_rules_spec *r = sg_xcalloc(1, sizeof(*r));
    r->path = sg_xstrdup(path);
    r->nlists = cfg_size(cfg, "terms");
    r->lists = sg_xcalloc(r->nlists + 1, sizeof(*r->lists));
    for (size_t i = 0; i < r->nlists; i++) {
        cfg_t *t = cfg_getnsec(cfg, "terms", (unsigned)i);
        struct sg_term_list *l = &r->lists[i];
        l->id = sg_xstrdup(cfg_title(t));
        l->explain = sg_xstrdup(cfg_getstr(t, "explain"));
        l->lang = sg_xstrdup(cfg_getstr(t, "lang"));
        l->mode = strcmp(cfg_getstr(t, "match"), "prefix") == 0 ? SG_MATCH_PREFIX : SG_MATCH_WORD;
        l->weight[SG_WHERE_SUBJECT] = cfg_getfloat(t, "subject");
        l->weight[SG_WHERE_BODY] = cfg_getfloat(t, "body");
        l->weight[SG_WHERE_ATTACHMENT] = cfg_getfloat(t, "attachment");
        l->terms = copy_list(t, "words", &l->nterms);
    }
    r->nrules = cfg_size(cfg, "rule");
    r->rules = sg_xcalloc(r->nrules + 1, sizeof(*r->rules));
    for (size_t i = 0; i < r->nrules; i++) {
        cfg_t *t = cfg_getnsec(cfg, "rule", (unsigned)i);
        r->rules[i].id = sg_xstrdup(cfg_title(t));
        r->rules[i].explain = sg_xstrdup(cfg_getstr(t, "explain"));
        r->rules[i].weight = cfg_getfloat(t, "weight");
    }
    r->ncombos = cfg_size(cfg, "combo");
    r->combos = sg_xcalloc(r->ncombos + 1, sizeof(*r->combos));
    for (size_t i = 0; i < r->ncombos; i++) {
        cfg_t *t = cfg_getnsec(cfg, "combo", (unsigned)i);
        r->combos[i].id = sg_xstrdup(cfg_title(t));
        r->combos[i].explain = sg_xstrdup(cfg_getstr(t, "explain"));
        r->combos[i].weight = cfg_getfloat(t, "weight");
        r->combos[i].all = copy_list(t, "all", &r->combos[i].nall);
    }
    r->shorteners = lower_list(cfg, "shorteners", &r->nshorteners);
    r->risky_extensions = lower_list(cfg, "risky_extensions", &r->nrisky_extensions);
    r->macro_extensions = lower_list(cfg, "macro_extensions", &r->nmacro_extensions);
    r->many_recipients = cfg_getint(cfg, "many_recipients");
    r->date_skew_hours = cfg_getint(cfg, "date_skew_hours");
    cfg_free(cfg);
    *spec_r = r;
    return SG_OK;
}
