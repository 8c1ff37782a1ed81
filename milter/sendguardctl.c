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
#include "runtime.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
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

/* mkdir_private - create a directory 0700 unless it exists */
static bool
mkdir_private(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST)
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
        bool ok = mkdir_private(cfg->state_directory) && mkdir_private(cfg->key_directory) &&
                  mkdir_private(dir);
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
        return 0; /* a rewrite lets the message through */
    case SG_ACTION_QUARANTINE:
        return 2;
    case SG_ACTION_REJECT:
        return 3;
    case SG_ACTION_TEMPFAIL:
        return 4;
    }
    return 4;
}

/* verb_score - the milter's analysis, offline, on message files */
static int
verb_score(const char *config, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"at", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    time_t now = time(NULL);
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ja:", longopts, NULL)) != -1) {
        char *end;
        switch (ch) {
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
            if (json) {
                char *text = sg_json_verdict(&v, strcmp(files[i], "-") == 0 ? NULL : files[i]);
                printf("%s%s\n", text, nfiles > 1 && i + 1 < nfiles ? "," : "");
                free(text);
            } else {
                print_human(files[i], &v);
            }
            int st = action_status(v.action);
            if (status < EX__BASE && st > status)
                status = st;
            sg_verdict_clear(&v);
        }
        sg_msg_free(&msg);
        free(data);
    }
    if (json && nfiles > 1)
        printf("]\n");
    sg_rules_free(&rules);
    sg_config_free(&cfg);
    return status;
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
    {"score", "score [--json] [--at SECONDS] [FILE...]",
     "Analyse message files (or standard input) exactly as the milter analyses outgoing\n"
     "mail: the content score, every rule hit with its explanation, and the action the\n"
     "thresholds give.  --json prints one object per file (an array for several) with the\n"
     "fields action, score, from, from_domain, hits[rule, weight, where, snippet,\n"
     "explanation].  Exit status: 0 accept, 1 tag, 2 quarantine, 3 reject, 4 tempfail\n"
     "(the strongest over all files); 64 and up for errors.  --at scores as if it were\n"
     "that time (seconds since 1970), for reproducible results on old messages.",
     verb_score},
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
