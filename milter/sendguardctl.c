/*
 * sendguardctl.c - the administrator's tool.  Verbs are a table mapping a
 * word to a handler; each verb has its own --help.
 */
#include "config.h"
#include "json.h"
#include "key.h"
#include "keyring.h"
#include "mime.h"
#include "pipeline.h"
#include "quarantine.h"
#include "reinject.h"
#include "runtime.h"
#include "store.h"
#include "version.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/sendguard/sendguard.conf"

struct verb {
    const char *name;
    const char *synopsis;
    const char *help;
    int (*run)(const char *config, int argc, char **argv);
};

#define MAX_OVERRIDES 64
static char *overrides[MAX_OVERRIDES];
static size_t n_overrides;

/* load_config - read the configuration (with -o overrides) or exit with its error */
static struct sg_config *
load_config(const char *path)
{
    struct sg_config *cfg;
    char *error;
    if (sg_config_load(path, overrides, n_overrides, &cfg, &error) != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        exit(EX_CONFIG);
    }
    return cfg;
}

/* daemon_uid - the uid the daemon runs as (key files may belong to it) */
static uid_t
daemon_uid(const struct sg_config *cfg)
{
    struct passwd *pw = cfg->user[0] ? getpwnam(cfg->user) : NULL;
    return pw ? pw->pw_uid : getuid();
}

/* print_dns_record - the TXT record in zone-file form, split into 255-byte strings */
static void
print_dns_record(const char *domain, const char *selector, const struct sg_key *key)
{
    char *value = sg_key_dns_value(key);
    size_t len = strlen(value);
    printf("%s._domainkey.%s. IN TXT (", selector, domain);
    for (size_t off = 0; off < len; off += 255)
        printf(" \"%.*s\"", (int)(len - off < 255 ? len - off : 255), value + off);
    printf(" )\n");
    free(value);
}

/* mkdir_mode - create a directory with mode unless it exists */
static bool
mkdir_mode(const char *dir, mode_t mode)
{
    if (mkdir(dir, mode) == 0 || errno == EEXIST)
        return true;
    fprintf(stderr, "sendguardctl: cannot create %s: %s\n", dir, strerror(errno));
    return false;
}

/* verb_keygen - generate a key and print its DNS record */
static int
verb_keygen(const char *config, int argc, char **argv)
{
    const char *type = "rsa", *out = NULL;
    int bits = 2048, ch;
    bool if_missing = false;
    static const struct option longopts[] = {
        {"type", required_argument, NULL, 't'},
        {"bits", required_argument, NULL, 'b'},
        {"output", required_argument, NULL, 'o'},
        {"if-missing", no_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    while ((ch = getopt_long(argc, argv, "t:b:o:m", longopts, NULL)) != -1) {
        switch (ch) {
        case 't':
            type = optarg;
            break;
        case 'b':
            bits = atoi(optarg);
            break;
        case 'o':
            out = optarg;
            break;
        case 'm':
            if_missing = true;
            break;
        default:
            return EX_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "sendguardctl keygen: need DOMAIN and SELECTOR\n");
        return EX_USAGE;
    }
    const char *domain = argv[optind], *selector = argv[optind + 1];
    enum sg_key_alg alg;
    if (strcmp(type, "rsa") == 0)
        alg = SG_KEY_RSA;
    else if (strcmp(type, "ed25519") == 0)
        alg = SG_KEY_ED25519;
    else {
        fprintf(stderr, "sendguardctl keygen: --type is rsa or ed25519\n");
        return EX_USAGE;
    }
    if (alg == SG_KEY_RSA && (bits < 1024 || bits > 8192)) {
        fprintf(stderr, "sendguardctl keygen: --bits must be 1024..8192 (2048 recommended)\n");
        return EX_USAGE;
    }

    struct sg_config *cfg = load_config(config);
    char *path;
    if (out != NULL) {
        path = sg_xstrdup(out);
    } else {
        if (cfg->key_directory[0] == '\0') {
            fprintf(stderr,
                    "sendguardctl keygen: no key_directory configured; use --output FILE\n");
            sg_config_free(&cfg);
            return EX_USAGE;
        }
        char *dir = sg_xasprintf("%s/%s", cfg->key_directory, domain);
        /* The state directory also holds the quarantine, which the daemon
         * reaches after dropping privileges: searchable by all, like /var/lib.
         * The key directories are private. */
        bool ok = mkdir_mode(cfg->state_directory, 0755) && mkdir_mode(cfg->key_directory, 0700) &&
                  mkdir_mode(dir, 0700);
        free(dir);
        if (!ok) {
            sg_config_free(&cfg);
            return EX_CANTCREAT;
        }
        path = sg_xasprintf("%s/%s/%s.pem", cfg->key_directory, domain, selector);
    }
    char *error = NULL;
    int status = EX_OK;
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (!(exists && if_missing)) {
        enum sg_rc rc = sg_key_generate(path, alg, bits, &error);
        if (rc != SG_OK) {
            fprintf(stderr, "sendguardctl: %s\n", error);
            status = rc == SG_PERM ? EX_CANTCREAT : EX_IOERR;
        } else {
            fprintf(stderr, "wrote %s\n", path);
        }
    }
    if (status == EX_OK) {
        struct sg_key *key;
        if (sg_key_load(path, daemon_uid(cfg), &key, &error) != SG_OK) {
            fprintf(stderr, "sendguardctl: %s\n", error);
            status = EX_DATAERR;
        } else {
            /* The daemon reads keys as root and then drops privileges: root ownership suffices. */
            printf("; publish this record in the DNS zone of %s:\n", domain);
            print_dns_record(domain, selector, key);
            sg_key_free(&key);
        }
    }
    free(error);
    free(path);
    sg_config_free(&cfg);
    return status;
}

/* verb_keys - list the configured keys and their DNS records */
static int
verb_keys(const char *config, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct sg_config *cfg = load_config(config);
    struct sg_keyring *ring;
    char *error;
    if (sg_keyring_load(cfg, daemon_uid(cfg), &ring, &error) != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        sg_config_free(&cfg);
        return EX_CONFIG;
    }
    for (size_t i = 0;; i++) {
        char *line = sg_keyring_describe(ring, i);
        if (line == NULL) {
            if (i == 0)
                printf("no signing keys configured\n");
            break;
        }
        printf("%s\n", line);
        free(line);
    }
    sg_keyring_free(&ring);
    sg_config_free(&cfg);
    return EX_OK;
}

/* read_all - a whole file or stdin ("-") into memory (caller frees); NULL with errno on failure */
static char *
read_all(const char *path, size_t *len_r)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t len = 0, cap = 65536;
    char *buf = sg_xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap)
            buf = sg_xrealloc(buf, cap *= 2);
    }
    int err = ferror(f) ? errno : 0;
    if (f != stdin)
        fclose(f);
    if (err != 0) {
        free(buf);
        errno = err;
        return NULL;
    }
    *len_r = len;
    return buf;
}

/* print_human - the verdict for a person: score, action, every hit explained */
static void
print_human(const char *file, const struct sg_verdict *v)
{
    printf("%s: score %.1f -> %s\n", file, v->score.total, sg_action_name(v->action));
    if (v->error != NULL)
        printf("  error: %s\n", v->error);
    for (size_t i = 0; i < v->score.nhits; i++) {
        const struct sg_hit *h = &v->score.hits[i];
        printf("  %+5.1f  %-22s %-10s %s\n", h->weight, h->rule, h->where, h->snippet);
        printf("         %s\n", h->explain);
    }
    if (v->score.nhits == 0)
        printf("  no rule hit\n");
    if (v->align.checked) {
        printf("  SPF %s for %s from %s; DMARC %s (policy %s)\n", sg_spf_result_name(v->align.spf),
               v->align.spf_domain, v->align.spf_ip, sg_dmarc_result_name(v->align.dmarc.result),
               sg_dmarc_disp_name(v->align.dmarc.policy));
        if (v->align.finding != NULL)
            printf("         %s\n", v->align.finding);
    } else if (v->align.bad_from) {
        printf("  From: %s\n", v->align.finding);
    }
}

/* Exit status of `score`: the strongest action over all files. */
static int
action_status(enum sg_action a)
{
    switch (a) {
    case SG_ACTION_ACCEPT:
        return 0;
    case SG_ACTION_TAG:
        return 1;
    case SG_ACTION_REWRITE:
        return 0; /* a rewrite lets the message through (tagged: 1, below) */
    case SG_ACTION_QUARANTINE:
        return 2;
    case SG_ACTION_REJECT:
        return 3;
    case SG_ACTION_TEMPFAIL:
        return 4;
    }
    return 4;
}

/* read_zone - the lines of a zone file for --dns-zone (caller frees with sg_strv_free) */
static char **
read_zone(const char *path, size_t *n_r)
{
    size_t len;
    char *text = read_all(path, &len);
    if (text == NULL)
        return NULL;
    text = sg_xrealloc(text, len + 1);
    text[len] = '\0';
    char **lines = sg_xcalloc(len / 2 + 2, sizeof(*lines));
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, "\r")] = '\0';
        if (line[0] != '\0' && line[0] != '#')
            lines[n++] = sg_xstrdup(line);
    }
    free(text);
    *n_r = n;
    return lines;
}

/* open_alignment - what SPF/DMARC prediction needs, when it is asked for
 * (--ip, or alignment { egress_ips }): DNS (the resolver, or --dns-zone)
 * and the keys (for d=; unreadable keys mean "will not sign", said once) */
static bool
open_alignment(struct sg_config *cfg, char **ips, size_t nips, const char *zone_file,
               struct sg_spf **dns_r, struct sg_keyring **keys_r)
{
    char *error = NULL;
    if (nips > 0) {
        sg_strv_free(cfg->egress_ips);
        cfg->egress_ips = sg_xcalloc(nips + 1, sizeof(char *));
        for (size_t i = 0; i < nips; i++) {
            unsigned char buf[16];
            if (inet_pton(AF_INET, ips[i], buf) != 1 && inet_pton(AF_INET6, ips[i], buf) != 1) {
                fprintf(stderr, "sendguardctl score: --ip %s is not an IP address\n", ips[i]);
                return false;
            }
            cfg->egress_ips[i] = sg_xstrdup(ips[i]);
        }
        cfg->n_egress_ips = nips;
    }
    if (cfg->n_egress_ips == 0)
        return true;
    enum sg_rc rc;
    if (zone_file != NULL) {
        size_t n = 0;
        char **lines = read_zone(zone_file, &n);
        if (lines == NULL) {
            fprintf(stderr, "sendguardctl: %s: %s\n", zone_file, strerror(errno));
            return false;
        }
        rc = sg_spf_new_zone((const char *const *)lines, n, dns_r, &error);
        sg_strv_free(lines);
    } else {
        rc = sg_spf_new(cfg->dns_timeout_ms, dns_r, &error);
    }
    if (rc != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        return false;
    }
    if (sg_keyring_load(cfg, daemon_uid(cfg), keys_r, &error) != SG_OK) {
        fprintf(stderr,
                "sendguardctl: note: the signing keys cannot be read (%s): DMARC is predicted "
                "as if sendguard did not sign\n",
                error);
        free(error);
        *keys_r = NULL;
    }
    return true;
}

/* verb_score - the milter's analysis, offline, on message files */
static int
verb_score(const char *config, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"at", required_argument, NULL, 'a'},
        {"ip", required_argument, NULL, 'i'},
        {"mail-from", required_argument, NULL, 'm'},
        {"dns-zone", required_argument, NULL, 'z'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    time_t now = time(NULL);
    char *ips[17] = {NULL};
    size_t nips = 0;
    const char *mail_from = NULL, *zone_file = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ja:i:m:z:", longopts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'i':
            if (nips == SG_NELEM(ips) - 1) {
                fprintf(stderr, "sendguardctl score: at most 16 --ip\n");
                return EX_USAGE;
            }
            ips[nips++] = optarg;
            break;
        case 'm':
            mail_from = optarg;
            break;
        case 'z':
            zone_file = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'a':
            now = (time_t)strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0') {
                fprintf(stderr, "sendguardctl score: --at takes seconds since 1970\n");
                return EX_USAGE;
            }
            break;
        default:
            return EX_USAGE;
        }
    }
    struct sg_config *cfg = load_config(config);
    struct sg_rules *rules;
    char *error;
    if (sg_runtime_load_rules(cfg, &rules, &error) != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        sg_config_free(&cfg);
        return EX_CONFIG;
    }
    struct sg_spf *dns = NULL;
    struct sg_keyring *keys = NULL;
    if (!open_alignment(cfg, ips, nips, zone_file, &dns, &keys)) {
        sg_rules_free(&rules);
        sg_config_free(&cfg);
        return EX_CONFIG;
    }
    sg_mime_init();
    char *stdin_only[] = {"-"};
    char **files = optind < argc ? argv + optind : stdin_only;
    int nfiles = optind < argc ? argc - optind : 1;
    int status = 0;
    if (json && nfiles > 1)
        printf("[\n");
    for (int i = 0; i < nfiles; i++) {
        size_t len;
        char *data = read_all(files[i], &len);
        if (data == NULL) {
            fprintf(stderr, "sendguardctl: %s: %s\n", files[i], strerror(errno));
            status = EX_NOINPUT;
            continue;
        }
        struct sg_msg *msg = sg_msg_new(cfg->spool_memory_limit, cfg->spool_directory);
        struct sg_verdict v;
        if (sg_msg_parse(msg, data, len, &error) != SG_OK) {
            fprintf(stderr, "sendguardctl: %s: %s\n", files[i], error);
            free(error);
            status = EX_IOERR;
        } else {
            /* Scored as the milter scores outgoing mail. */
            sg_pipeline_analyse(cfg, rules, msg, SG_ORIGIN_INTERNAL, now, &v);
            /* The envelope sender: --mail-from, else the From address. */
            sg_pipeline_align(cfg, dns, keys,
                              mail_from ? mail_from : (v.from_addr ? v.from_addr : ""),
                              SG_REWRITE_ALL, &v);
            if (json) {
                char *text = sg_json_verdict(&v, strcmp(files[i], "-") == 0 ? NULL : files[i]);
                printf("%s%s\n", text, nfiles > 1 && i + 1 < nfiles ? "," : "");
                free(text);
            } else {
                print_human(files[i], &v);
            }
            int st = action_status(v.action);
            if (v.action == SG_ACTION_REWRITE && sg_verdict_tagged(cfg, &v))
                st = action_status(SG_ACTION_TAG);
            if (status < EX__BASE && st > status)
                status = st;
            sg_verdict_clear(&v);
        }
        sg_msg_free(&msg);
        free(data);
    }
    if (json && nfiles > 1)
        printf("]\n");
    sg_spf_free(&dns);
    sg_keyring_free(&keys);
    sg_rules_free(&rules);
    sg_config_free(&cfg);
    return status;
}

/* ---- the quarantine ---------------------------------------------------- */

/* Exit status for a store error. */
static int
store_status(enum sg_rc rc)
{
    return rc == SG_TEMP ? EX_TEMPFAIL : rc == SG_PERM ? EX_DATAERR : EX_SOFTWARE;
}

/* who_may - "user sendguard and group sendguard", for permission messages */
static char *
who_may(const struct sg_config *cfg, const char *dir)
{
    struct stat st;
    const char *user = cfg->user[0] ? cfg->user : "the daemon's user";
    if (stat(dir, &st) == 0) {
        struct group *gr = getgrgid(st.st_gid);
        if (gr != NULL)
            return sg_xasprintf("user %s and group %s", user, gr->gr_name);
    }
    return sg_xasprintf("user %s and its admin group", user);
}

/* open_store - the daemon's database, or exit with a message that says
 * what to do: it is missing (66), not ours to read (77), locked (75) */
static struct sg_store *
open_store(const struct sg_config *cfg)
{
    char *copy = sg_xstrdup(cfg->database);
    const char *dir = dirname(copy);
    struct sg_store *store = NULL;
    char *error = NULL;
    int status = EX_OK;
    /* SQLite in WAL mode also writes -wal and -shm files beside the database. */
    if (access(cfg->database, R_OK | W_OK) < 0 || access(dir, W_OK | X_OK) < 0) {
        int err = errno;
        if (err == ENOENT) {
            fprintf(stderr,
                    "sendguardctl: no quarantine database at %s: sendguard creates it when it "
                    "starts (is this the daemon's configuration? see -c)\n",
                    cfg->database);
            status = EX_NOINPUT;
        } else if (err == EACCES || err == EPERM || err == EROFS) {
            char *who = who_may(cfg, dir);
            fprintf(stderr,
                    "sendguardctl: permission denied: %s: the quarantine holds personal data and "
                    "only %s may use it; run sendguardctl as root or as a member of that group\n",
                    cfg->database, who);
            free(who);
            status = EX_NOPERM;
        } else {
            fprintf(stderr, "sendguardctl: %s: %s\n", cfg->database, strerror(err));
            status = EX_IOERR;
        }
    } else {
        enum sg_rc rc = sg_store_open(cfg->database, SG_STORE_MUST_EXIST, &store, &error);
        if (rc != SG_OK) {
            fprintf(stderr, "sendguardctl: %s%s\n", error,
                    rc == SG_TEMP ? " (locked or busy: try again)" : "");
            free(error);
            status = store_status(rc);
        }
    }
    free(copy);
    if (status != EX_OK)
        exit(status);
    return store;
}

/* parse_id - a quarantine id, or exit with usage */
static long long
parse_id(const char *verb, const char *text)
{
    char *end;
    errno = 0;
    long long id = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || id <= 0 || errno != 0) {
        fprintf(stderr, "sendguardctl quarantine %s: \"%s\" is not a message id (see "
                        "`sendguardctl quarantine list`)\n",
                verb, text);
        exit(EX_USAGE);
    }
    return id;
}

/* parse_age - a duration for --since/--older-than, or exit with usage */
static long long
parse_age(const char *option, const char *text)
{
    long long seconds;
    if (!sg_config_parse_duration(text, &seconds)) {
        fprintf(stderr,
                "sendguardctl: %s \"%s\": give a duration such as 30d, 12h, 15m or 90s\n",
                option, text);
        exit(EX_USAGE);
    }
    return seconds;
}

/* format_time - local time as "2026-11-23 08:01" into buf */
static const char *
format_time(long long t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, size, "%lld", t);
    return buf;
}

/* one_line - s cut to width characters (UTF-8 aware enough: never splits a
 * sequence), control characters as spaces, into buf */
static const char *
one_line(const char *s, size_t width, char *buf, size_t size)
{
    size_t o = 0, chars = 0;
    if (s == NULL)
        s = "-";
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < size; p++) {
        if ((*p & 0xc0) != 0x80 && chars++ == width)
            break;
        buf[o++] = *p < 0x20 ? ' ' : (char)*p;
    }
    buf[o] = '\0';
    return buf;
}

/* quarantine_list - newest first, filtered */
static int
quarantine_list(const struct sg_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},    {"rule", required_argument, NULL, 'r'},
        {"since", required_argument, NULL, 's'}, {"state", required_argument, NULL, 'S'},
        {"limit", required_argument, NULL, 'l'}, {NULL, 0, NULL, 0},
    };
    struct sg_store_filter f = {.state = "held"};
    bool json = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "jf:t:r:s:S:l:", longopts, NULL)) != -1) {
        switch (ch) {
        case 'j':
            json = true;
            break;
        case 'f':
            f.sender = optarg;
            break;
        case 't':
            f.recipient = optarg;
            break;
        case 'r':
            f.reason = optarg;
            break;
        case 's':
            f.since = (long long)time(NULL) - parse_age("--since", optarg);
            break;
        case 'S':
            if (strcmp(optarg, "all") == 0)
                f.state = NULL;
            else if (strcmp(optarg, "held") == 0 || strcmp(optarg, "released") == 0)
                f.state = optarg;
            else {
                fprintf(stderr, "sendguardctl quarantine list: --state is held, released or all\n");
                return EX_USAGE;
            }
            break;
        case 'l':
            f.limit = (size_t)strtoul(optarg, NULL, 10);
            break;
        default:
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sendguardctl quarantine list: unexpected \"%s\"\n", argv[optind]);
        return EX_USAGE;
    }
    struct sg_store *store = open_store(cfg);
    struct sg_quarantined **list = NULL;
    size_t n = 0;
    char *error = NULL;
    enum sg_rc rc = sg_store_quarantine_list(store, &f, &list, &n, &error);
    sg_store_close(&store);
    if (rc != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        return store_status(rc);
    }
    if (json) {
        char *text = sg_json_quarantine_list(list, n);
        printf("%s\n", text);
        free(text);
    } else if (n == 0) {
        printf("no quarantined messages%s\n",
               f.sender || f.recipient || f.reason || f.since ? " match" : "");
    } else {
        printf("%-6s %-16s %-28s %-28s %-30s %5s %s\n", "ID", "TIME", "FROM", "TO", "SUBJECT",
               "SCORE", "REASON");
        for (size_t i = 0; i < n; i++) {
            const struct sg_quarantined *q = list[i];
            char t[32], from[128], to[128], subject[160], rcpt[256];
            snprintf(rcpt, sizeof(rcpt), "%s%s", q->nrcpts ? q->rcpts[0] : "-",
                     q->nrcpts > 1 ? " +" : "");
            printf("%-6lld %-16s %-28s %-28s %-30s %5.1f %s%s\n", q->id,
                   format_time(q->time, t, sizeof(t)),
                   one_line(q->env_from && q->env_from[0] ? q->env_from : "<>", 28, from,
                            sizeof(from)),
                   one_line(rcpt, 28, to, sizeof(to)), one_line(q->subject, 30, subject, sizeof(subject)),
                   q->score, q->reason ? q->reason : "-",
                   strcmp(q->state, "held") != 0 ? " (released)" : "");
        }
    }
    sg_quarantined_list_free(&list, n);
    return EX_OK;
}

/* get_message - one stored message, or exit */
static struct sg_quarantined *
get_message(struct sg_store **store, long long id)
{
    struct sg_quarantined *q = NULL;
    char *error = NULL;
    enum sg_rc rc = sg_store_quarantine_get(*store, id, &q, &error);
    if (rc != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        sg_store_close(store);
        exit(store_status(rc));
    }
    return q;
}

/* preview - the first text part, decoded, at most max bytes (caller frees) */
static char *
preview(struct sg_msg *msg, size_t max)
{
    struct sg_content *content = NULL;
    char *error = NULL;
    if (sg_mime_analyse(msg, &content, &error) != SG_OK) {
        char *text = sg_xasprintf("(cannot decode: %s)", error);
        free(error);
        return text;
    }
    char *text = NULL;
    for (size_t i = 0; i < content->nparts && text == NULL; i++) {
        const struct sg_text_part *p = &content->parts[i];
        size_t len = p->text_len < max ? p->text_len : max;
        while (len > 0 && len < p->text_len && ((unsigned char)p->text[len] & 0xc0) == 0x80)
            len--; /* never cut a UTF-8 sequence */
        text = sg_xasprintf("%.*s%s", (int)len, p->text, len < p->text_len ? "\n[...]" : "");
    }
    sg_content_free(&content);
    return text ? text : sg_xstrdup("(no text part)");
}

/* quarantine_show - everything about one message */
static int
quarantine_show(const struct sg_config *cfg, int argc, char **argv)
{
    bool json = false;
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "j", longopts, NULL)) != -1) {
        if (ch != 'j')
            return EX_USAGE;
        json = true;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "sendguardctl quarantine show: need one message id\n");
        return EX_USAGE;
    }
    long long id = parse_id("show", argv[optind]);
    struct sg_store *store = open_store(cfg);
    struct sg_quarantined *q = get_message(&store, id);
    sg_store_close(&store);
    sg_mime_init();
    struct sg_msg *msg = sg_msg_new(cfg->spool_memory_limit, cfg->spool_directory);
    char *error = NULL;
    if (sg_msg_parse(msg, (const char *)q->raw, q->raw_len, &error) != SG_OK) {
        fprintf(stderr, "sendguardctl: message %lld: %s\n", id, error);
        free(error);
        sg_msg_free(&msg);
        msg = NULL;
    }
    char *text = msg ? preview(msg, 2000) : NULL;
    if (json) {
        char *out = sg_json_quarantine_show(q, msg, text);
        printf("%s\n", out);
        free(out);
    } else {
        char t[32];
        printf("message %lld (%s), quarantined %s\n", q->id, q->state,
               format_time(q->time, t, sizeof(t)));
        printf("  queue id:  %s\n  client:    %s\n  envelope:  from <%s> to", q->queue_id ? q->queue_id : "-",
               q->client_addr ? q->client_addr : "-", q->env_from ? q->env_from : "");
        for (size_t i = 0; i < q->nrcpts; i++)
            printf("%s <%s>", i ? "," : "", q->rcpts[i]);
        printf("\n  From:      %s\n  Subject:   %s\n  score:     %.1f (%s)\nwhy:\n",
               q->from_header ? q->from_header : "-", q->subject ? q->subject : "-", q->score,
               q->reason ? q->reason : "-");
        char *why = sg_json_verdict_explain(q->verdict_json);
        printf("%s", why ? why : "  (no stored verdict)\n");
        free(why);
        printf("header:\n");
        for (size_t i = 0; msg != NULL && i < sg_msg_header_count(msg); i++) {
            const char *v = sg_msg_header_value(msg, i);
            printf("  %s: %s\n", sg_msg_header_name(msg, i), v + strspn(v, " \t"));
        }
        printf("text:\n%s\n", text ? text : "(not readable)");
    }
    free(text);
    sg_msg_free(&msg);
    sg_quarantined_free(&q);
    return EX_OK;
}

/* inject - hand bytes to the MTA the configured way */
static enum sg_rc
inject(const struct sg_config *cfg, const struct sg_quarantined *q, char *const *rcpts,
       size_t nrcpts, const char *token, char **reply_r, bool *unknown_r, char **error_r)
{
    char *host = NULL, *port = NULL;
    size_t len;
    enum sg_rc rc;
    *reply_r = NULL;
    if (sg_config_release_smtp(cfg->release_via, &host, &port, error_r)) {
        char *data = sg_release_message(q->raw, q->raw_len, token, true, &len);
        rc = sg_reinject_smtp(host, port, q->env_from ? q->env_from : "", rcpts, nrcpts, data, len,
                              reply_r, unknown_r, error_r);
        free(data);
        free(host);
        free(port);
    } else {
        free(*error_r);
        *error_r = NULL;
        char *data = sg_release_message(q->raw, q->raw_len, token, false, &len);
        rc = sg_reinject_sendmail(cfg->release_via + strlen("sendmail:"),
                                  q->env_from ? q->env_from : "", rcpts, nrcpts, data, len,
                                  error_r);
        free(data);
    }
    return rc;
}

/* quarantine_release - re-inject once, with a token the milter honours once */
static int
quarantine_release(const struct sg_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {{"to", required_argument, NULL, 't'},
                                             {"force", no_argument, NULL, 'f'},
                                             {NULL, 0, NULL, 0}};
    char *to = NULL;
    bool force = false;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "t:f", longopts, NULL)) != -1) {
        if (ch == 't')
            to = optarg;
        else if (ch == 'f')
            force = true;
        else
            return EX_USAGE;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "sendguardctl quarantine release: need one message id\n");
        return EX_USAGE;
    }
    if (to != NULL && (to[0] == '\0' || !sg_reinject_valid_address(to) || !strchr(to, '@'))) {
        fprintf(stderr, "sendguardctl quarantine release: --to \"%s\" is not an address\n", to);
        return EX_USAGE;
    }
    long long id = parse_id("release", argv[optind]);
    struct sg_store *store = open_store(cfg);
    struct sg_quarantined *q = get_message(&store, id);
    char *error = NULL;
    char *token = sg_release_token(&error);
    if (token == NULL) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        sg_quarantined_free(&q);
        sg_store_close(&store);
        return EX_OSERR;
    }
    /* SMTP: the milter takes the token before the MTA says 250.  sendmail
     * returns once the message is in the maildrop; the milter sees it later. */
    bool queued = strncmp(cfg->release_via, "sendmail:", 9) == 0;
    long long now = (long long)time(NULL);
    long long ttl = queued ? SG_RELEASE_TOKEN_TTL_SENDMAIL : SG_RELEASE_TOKEN_TTL_SMTP;
    /* The token releases this body only, whoever else might see it. */
    char *body_hash = sg_quarantine_raw_body_hash(q->raw, q->raw_len);
    enum sg_rc rc =
        sg_store_release_begin(store, id, token, body_hash, now, now + ttl, force, &error);
    free(body_hash);
    if (rc != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        free(token);
        sg_quarantined_free(&q);
        sg_store_close(&store);
        return store_status(rc);
    }
    char *only[] = {to, NULL};
    char *const *rcpts = to ? only : q->rcpts;
    size_t nrcpts = to ? 1 : q->nrcpts;
    char *reply = NULL;
    bool unknown = false;
    enum sg_rc sent = inject(cfg, q, rcpts, nrcpts, token, &reply, &unknown, &error);
    enum sg_release_outcome outcome = sent == SG_OK ? (queued ? SG_RELEASE_QUEUED
                                                              : SG_RELEASE_ACCEPTED)
                                      : unknown     ? SG_RELEASE_UNKNOWN
                                                    : SG_RELEASE_REFUSED;
    bool unused = false;
    char *end_error = NULL;
    rc = sg_store_release_end(store, id, token, outcome, &unused, &end_error);
    int status = EX_OK;
    if (rc != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", end_error);
        status = store_status(rc);
    } else if (outcome == SG_RELEASE_UNKNOWN && !unused) {
        fprintf(stderr,
                "sendguardctl: warning: %s; sendguard had let message %lld through, so the MTA "
                "most likely queued it: it is marked released (check the mail log)\n",
                error, id);
    } else if (sent != SG_OK) {
        fprintf(stderr, "sendguardctl: message %lld not released, it stays in the quarantine: %s\n",
                id, error);
        status = EX_UNAVAILABLE;
    }
    if (status == EX_OK) {
        printf("message %lld released to", id);
        for (size_t i = 0; i < nrcpts; i++)
            printf("%s <%s>", i ? "," : "", rcpts[i]);
        printf(" via %s%s%s\n", cfg->release_via, reply ? ": " : "", reply ? reply : "");
        if (unused && outcome == SG_RELEASE_ACCEPTED)
            fprintf(stderr,
                    "sendguardctl: warning: the MTA accepted message %lld but it did not pass "
                    "through sendguard (its release token is unused), so it is not DKIM-signed: "
                    "check smtpd_milters/non_smtpd_milters and release_via\n",
                    id);
    }
    free(end_error);
    free(error);
    free(reply);
    free(token);
    sg_quarantined_free(&q);
    sg_store_close(&store);
    return status;
}

/* quarantine_delete - remove messages for good */
static int
quarantine_delete(const struct sg_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "sendguardctl quarantine delete: need message ids\n");
        return EX_USAGE;
    }
    for (int i = 1; i < argc; i++)
        (void)parse_id("delete", argv[i]);
    struct sg_store *store = open_store(cfg);
    int status = EX_OK;
    for (int i = 1; i < argc; i++) {
        char *error = NULL;
        long long id = parse_id("delete", argv[i]);
        enum sg_rc rc = sg_store_quarantine_delete(store, id, &error);
        if (rc != SG_OK) {
            fprintf(stderr, "sendguardctl: %s\n", error);
            free(error);
            status = store_status(rc);
        } else {
            printf("message %lld deleted\n", id);
        }
    }
    sg_store_close(&store);
    return status;
}

/* quarantine_purge - remove what is older than an age (default: the retention) */
static int
quarantine_purge(const struct sg_config *cfg, int argc, char **argv)
{
    static const struct option longopts[] = {{"older-than", required_argument, NULL, 'o'},
                                             {NULL, 0, NULL, 0}};
    long long age = cfg->retention;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
        if (ch != 'o')
            return EX_USAGE;
        age = parse_age("--older-than", optarg);
    }
    if (optind != argc) {
        fprintf(stderr, "sendguardctl quarantine purge: unexpected \"%s\"\n", argv[optind]);
        return EX_USAGE;
    }
    if (age <= 0) {
        printf("retention is 0 (keep forever): nothing purged; use --older-than AGE\n");
        return EX_OK;
    }
    struct sg_store *store = open_store(cfg);
    size_t nq = 0, nv = 0;
    char *error = NULL;
    enum sg_rc rc = sg_store_purge(store, (long long)time(NULL) - age, &nq, &nv, &error);
    sg_store_close(&store);
    if (rc != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        return store_status(rc);
    }
    printf("purged %zu quarantined message(s) and %zu verdict row(s) older than %lld s\n", nq, nv,
           age);
    return EX_OK;
}

/* verb_quarantine - list, show, release, delete, purge */
static int
verb_quarantine(const char *config, int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(const struct sg_config *cfg, int argc, char **argv);
    } subs[] = {
        {"list", quarantine_list},       {"show", quarantine_show},
        {"release", quarantine_release}, {"delete", quarantine_delete},
        {"purge", quarantine_purge},
    };
    if (argc < 2) {
        fprintf(stderr, "sendguardctl quarantine: list, show, release, delete or purge? "
                        "(sendguardctl quarantine --help)\n");
        return EX_USAGE;
    }
    for (size_t i = 0; i < SG_NELEM(subs); i++) {
        if (strcmp(argv[1], subs[i].name) != 0)
            continue;
        struct sg_config *cfg = load_config(config);
        int status = subs[i].run(cfg, argc - 1, argv + 1);
        sg_config_free(&cfg);
        return status;
    }
    fprintf(stderr, "sendguardctl quarantine: unknown action \"%s\"\n", argv[1]);
    return EX_USAGE;
}

/* verb_stats - counts per action and top rule */
static int
verb_stats(const char *config, int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {"since", required_argument, NULL, 's'},
                                             {NULL, 0, NULL, 0}};
    bool json = false;
    long long age = 7 * 86400;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "js:", longopts, NULL)) != -1) {
        if (ch == 'j')
            json = true;
        else if (ch == 's')
            age = strcmp(optarg, "all") == 0 ? -1 : parse_age("--since", optarg);
        else
            return EX_USAGE;
    }
    struct sg_config *cfg = load_config(config);
    struct sg_store *store = open_store(cfg);
    long long since = age < 0 ? 0 : (long long)time(NULL) - age;
    struct sg_store_stats st;
    char *error = NULL;
    enum sg_rc rc = sg_store_stats(store, since, &st, &error);
    sg_store_close(&store);
    sg_config_free(&cfg);
    if (rc != SG_OK) {
        fprintf(stderr, "sendguardctl: %s\n", error);
        free(error);
        return store_status(rc);
    }
    if (json) {
        char *text = sg_json_stats(&st, since);
        printf("%s\n", text);
        free(text);
    } else {
        char t[32];
        unsigned long long inbound = 0;
        for (size_t i = 0; i < st.nactions; i++)
            if (strcmp(st.actions[i].name, "inbound") == 0)
                inbound = st.actions[i].n;
        printf("outgoing messages since %s: %llu", since ? format_time(since, t, sizeof(t)) : "the start",
               st.total - inbound);
        printf(" (and %llu other messages passed untouched)\n", inbound);
        for (size_t i = 0; i < st.nactions; i++)
            if (strcmp(st.actions[i].name, "inbound") != 0)
                printf("  %-12s %llu\n", st.actions[i].name, st.actions[i].n);
        if (st.nrules > 0)
            printf("top rules (heaviest hit per message):\n");
        for (size_t i = 0; i < st.nrules; i++)
            printf("  %-24s %llu\n", st.rules[i].name, st.rules[i].n);
    }
    sg_store_stats_clear(&st);
    return EX_OK;
}

static const struct verb verbs[] = {
    {"keygen",
     "keygen [--type rsa|ed25519] [--bits N] [--output FILE] [--if-missing] DOMAIN SELECTOR",
     "Generate a DKIM private key (default RSA-2048) into key_directory/DOMAIN/SELECTOR.pem\n"
     "(or --output FILE), readable by its owner only, and print the DNS TXT record to\n"
     "publish. --if-missing keeps an existing key and prints its record.",
     verb_keygen},
    {"keys", "keys", "List the signing keys the configuration loads: domain, selector, type, file.",
     verb_keys},
    {"score", "score [--json] [--at SECONDS] [--ip IP]... [--mail-from ADDR] [--dns-zone FILE] [FILE...]",
     "Analyse message files (or standard input) exactly as the milter analyses outgoing\n"
     "mail: the content score, every rule hit with its explanation, and the action the\n"
     "thresholds give.  --json prints one object per file (an array for several) with the\n"
     "fields action, score, from, from_domain, hits[rule, weight, where, snippet,\n"
     "explanation].  Exit status: 0 accept (or rewrite), 1 tag, 2 quarantine, 3 reject,\n"
     "4 tempfail (the strongest over all files); 64 and up for errors.  --at scores as if it were\n"
     "that time (seconds since 1970), for reproducible results on old messages.\n"
     "With --ip (or alignment { egress_ips }) it also predicts SPF and DMARC at the\n"
     "receiver for mail sent from that IP with envelope sender --mail-from (default:\n"
     "the From address), through the system's DNS or, with --dns-zone FILE, through\n"
     "\"NAME TYPE DATA\" lines (TXT, A, AAAA, MX, PTR; NAME NXDOMAIN; NAME TEMPFAIL),\n"
     "to try a planned SPF or DMARC record first; JSON adds \"alignment\" (with the\n"
     "rewrites alignment { } would make: rewrite_from, rewrite_envelope, envelope).",
     verb_score},
    {"quarantine",
     "quarantine list|show|release|delete|purge ...",
     "The messages sendguard held back, in its database (quarantine.database):\n"
     "  quarantine list [--json] [--from TEXT] [--to TEXT] [--rule ID] [--since AGE]\n"
     "                  [--state held|released|all] [--limit N]\n"
     "      newest first; --from/--to match part of the sender/a recipient, --rule the\n"
     "      heaviest rule, --since the age (30d, 12h, 15m); default state held\n"
     "  quarantine show [--json] ID\n"
     "      envelope, the verdict with every rule hit explained, header, text\n"
     "  quarantine release [--to ADDR] [--force] ID\n"
     "      hand the message back to the MTA (release_via) with a one-time token, so\n"
     "      that sendguard lets it through once, DKIM-signed; --to sends it to ADDR\n"
     "      only.  It is marked released once the MTA took it (by SMTP: accepted; by\n"
     "      sendmail: queued), held again if the MTA refused it.  --force starts a\n"
     "      new release while an earlier one's token is still valid (that release\n"
     "      failed or was interrupted).\n"
     "  quarantine delete ID...\n"
     "  quarantine purge [--older-than AGE]   (default: the configured retention)\n"
     "Exit status: 0 done, 64 usage, 65 unknown id or not held, 66 no database,\n"
     "69 the MTA refused or could not be reached, 70 database error, 71 no random\n"
     "numbers, 75 database locked, 77 permission denied (run as root or as a member of\n"
     "the admin group), 78 configuration.",
     verb_quarantine},
    {"stats", "stats [--json] [--since AGE|all]",
     "Count the verdicts of the last 7 days (or --since AGE): outgoing messages per\n"
     "action and per heaviest rule, and how many other (inbound) messages passed.",
     verb_stats},
};

/* usage - the verb list */
static void
usage(FILE *f)
{
    fprintf(
        f,
        "usage: sendguardctl [-c FILE] [-o name=value]... VERB [ARGS]   (sendguard %s)\nverbs:\n",
        SG_VERSION);
    for (size_t i = 0; i < SG_NELEM(verbs); i++)
        fprintf(f, "  %s\n", verbs[i].synopsis);
    fprintf(f, "sendguardctl VERB --help tells more.\n");
}

int
main(int argc, char **argv)
{
    const char *config = DEFAULT_CONFIG;
    /* A sendmail that stops reading must not kill us: its exit status tells. */
    signal(SIGPIPE, SIG_IGN);
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            config = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc && n_overrides < MAX_OVERRIDES) {
            overrides[n_overrides++] = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return EX_OK;
        } else {
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (i == argc) {
        usage(stderr);
        return EX_USAGE;
    }
    for (size_t v = 0; v < SG_NELEM(verbs); v++) {
        if (strcmp(argv[i], verbs[v].name) != 0)
            continue;
        for (int a = i + 1; a < argc; a++) {
            if (strcmp(argv[a], "--help") == 0) {
                printf("usage: sendguardctl [-c FILE] %s\n%s\n", verbs[v].synopsis, verbs[v].help);
                return EX_OK;
            }
        }
        return verbs[v].run(config, argc - i, argv + i);
    }
    fprintf(stderr, "sendguardctl: unknown verb \"%s\"\n", argv[i]);
    usage(stderr);
    return EX_USAGE;
}
