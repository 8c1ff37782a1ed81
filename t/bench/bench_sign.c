/*
 * bench_sign.c - in-process throughput of sendguard's end-of-message
 * pipeline (sg_pipeline_run: analyse the From header, decide, DKIM-sign) for
 * a 5 KB message, RSA-2048 and Ed25519, one thread, printed next to
 * `openssl speed` for the same algorithms on the same machine.
 *
 * Two cases per algorithm:
 *   pipeline        the message is parsed once; each iteration runs
 *                   sg_pipeline_run and frees the verdict (parse excluded);
 *   parse+pipeline  each iteration builds the message from its text
 *                   (sg_msg_new + sg_msg_parse), runs the pipeline and frees
 *                   everything - closest to what the milter does per message.
 *
 * A benchmark prints figures; it never fails on a timing.  It exits 1 when
 * the measurement could not run: a key, the configuration or the runtime
 * cannot be set up, a message comes back unsigned, or `openssl speed` gives
 * no figure.
 *
 * Usage: bench_sign [-r RSA_ITERATIONS] [-e ED25519_ITERATIONS]
 *                   [-t MAX_SECONDS_PER_CASE] [-s OPENSSL_SECONDS]
 */
#include "common.h"
#include "config.h"
#include "dkim.h"
#include "key.h"
#include "message.h"
#include "mime.h"
#include "origin.h"
#include "pipeline.h"
#include "runtime.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MSG_SIZE 5120

struct bench_opts {
    long rsa_iterations;
    long ed_iterations;
    double max_seconds; /* per case: stop early past this */
    int openssl_seconds;
};

struct bench_result {
    long iterations;
    double wall; /* seconds */
    double cpu;  /* seconds of this process's CPU */
};

/* The scratch directory (keys, configuration), removed at exit whatever the outcome. */
static char scratch_dir[] = "/tmp/sgbench.XXXXXX";
static bool scratch_made;

/* rm_entry - nftw callback: remove one entry */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* remove_scratch - atexit: remove the scratch directory and what is in it */
static void
remove_scratch(void)
{
    if (scratch_made)
        nftw(scratch_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* now - a clock in seconds */
static double
now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* make_message - a 5 KB invoice-like message, exactly MSG_SIZE bytes, CRLF lines */
static char *
make_message(const char *from_domain, size_t *len_r)
{
    char *msg = sg_xmalloc(MSG_SIZE + 1);
    int n = snprintf(msg, MSG_SIZE + 1,
                     "From: Accounts <invoices@%s>\r\n"
                     "To: Customer <customer@example.com>\r\n"
                     "Subject: Invoice 2026-0042\r\n"
                     "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n"
                     "Message-ID: <inv-2026-0042@%s>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n"
                     "\r\n",
                     from_domain, from_domain);
    size_t len = (size_t)n;
    static const char line[] = "Invoice line: 1 x consultancy, 8 hours at EUR 95.00, VAT 21%.";
    for (unsigned i = 0; len < MSG_SIZE; i++) {
        char buf[128];
        int m = snprintf(buf, sizeof(buf), "%04u %s\r\n", i, line);
        size_t take = (size_t)m;
        if (len + take > MSG_SIZE) {
            /* pad the last line so the message ends with CRLF at exactly MSG_SIZE */
            size_t room = MSG_SIZE - len;
            if (room < 2)
                break;
            memset(buf, 'x', room - 2);
            memcpy(buf + room - 2, "\r\n", 2);
            take = room;
        }
        memcpy(msg + len, buf, take);
        len += take;
    }
    msg[len] = '\0';
    *len_r = len;
    return msg;
}

/* write_config - the benchmark's sendguard.conf in dir; returns its path (caller frees) */
static char *
write_config(const char *dir, const char *rsa_key, const char *ed_key)
{
    char *path = sg_xasprintf("%s/sendguard.conf", dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_sign: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fprintf(f,
            "socket = \"unix:%s/sendguard.sock\"\n"
            "socket_mode = \"0666\"\n"
            "socket_group = \"\"\n"
            "user = \"\"\n"
            "pid_file = \"\"\n"
            "state_directory = \"%s\"\n"
            "spool_directory = \"%s\"\n"
            "key_directory = \"\"\n"
            "internal_hosts = {\"127.0.0.0/8\"}\n"
            "domain \"rsa.example.nl\" { key \"r2026\" { file = \"%s\" } }\n"
            "domain \"ed.example.nl\" { key \"e2026\" { file = \"%s\" } }\n"
            /* Signing alone: content scoring has its own benchmark. */
            "scoring { rules = \"\" }\n",
            dir, dir, dir, rsa_key, ed_key);
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_sign: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return path;
}

/* new_key - generate a key in dir or exit; returns its path (caller frees) */
static char *
new_key(const char *dir, const char *name, enum sg_key_alg alg)
{
    char *path = sg_xasprintf("%s/%s", dir, name);
    char *error = NULL;
    if (sg_key_generate(path, alg, 2048, &error) != SG_OK) {
        fprintf(stderr, "bench_sign: cannot generate %s: %s\n", path, error);
        exit(1);
    }
    return path;
}

/* check_verdict - a benchmark of unsigned messages measures nothing: exit */
static void
check_verdict(const struct sg_verdict *v, const char *what)
{
    if (v->dkim != SG_DKIM_SIGNED || v->nsignatures != 1 || v->signatures[0] == NULL ||
        strstr(v->signatures[0], "b=") == NULL) {
        fprintf(stderr, "bench_sign: %s: message not signed (dkim=%s%s%s)\n", what,
                sg_dkim_outcome_name(v->dkim), v->error ? ": " : "", v->error ? v->error : "");
        exit(1);
    }
}

/* run_case - iterate one case; parse_each: build the message in every iteration */
static struct bench_result
run_case(struct sg_runtime *rt, const char *text, size_t len, bool parse_each, long iterations,
         double max_seconds, const char *what)
{
    struct sg_msg *once = NULL;
    char *error = NULL;
    if (!parse_each) {
        once = sg_msg_new(rt->cfg->spool_memory_limit, rt->cfg->spool_directory);
        if (sg_msg_parse(once, text, len, &error) != SG_OK) {
            fprintf(stderr, "bench_sign: %s: cannot parse the message: %s\n", what, error);
            exit(1);
        }
    }
    /* A few untimed rounds: first-use costs (OpenSSL's lazy init, caches). */
    long warmup = iterations / 20 < 10 ? 10 : iterations / 20;
    struct bench_result r = {0, 0, 0};
    double wall0 = 0, cpu0 = 0;
    for (long i = -warmup; i < iterations; i++) {
        if (i == 0) {
            wall0 = now(CLOCK_MONOTONIC);
            cpu0 = now(CLOCK_PROCESS_CPUTIME_ID);
        }
        struct sg_msg *msg = once;
        if (parse_each) {
            msg = sg_msg_new(rt->cfg->spool_memory_limit, rt->cfg->spool_directory);
            if (sg_msg_parse(msg, text, len, &error) != SG_OK) {
                fprintf(stderr, "bench_sign: %s: cannot parse the message: %s\n", what, error);
                exit(1);
            }
        }
        struct sg_verdict v;
        sg_pipeline_run(rt, msg, SG_ORIGIN_INTERNAL, "", 0, SG_REWRITE_ALL, &v);
        check_verdict(&v, what);
        sg_verdict_clear(&v);
        if (parse_each)
            sg_msg_free(&msg);
        if (i >= 0) {
            r.iterations = i + 1;
            /* checking the clock every 64 rounds keeps its cost out of the figure */
            if ((i & 63) == 63 && now(CLOCK_MONOTONIC) - wall0 > max_seconds)
                break;
        }
    }
    r.wall = now(CLOCK_MONOTONIC) - wall0;
    r.cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    sg_msg_free(&once);
    return r;
}

/* openssl_speed - signs/s from `openssl speed -seconds N ALG` (the line containing
 * marker; sign/s is its second-to-last field); 0 when it cannot be had */
static double
openssl_speed(const char *alg, const char *marker, int seconds)
{
    char *cmd = sg_xasprintf("openssl speed -seconds %d %s 2>/dev/null", seconds, alg);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (p == NULL)
        return 0;
    char line[512];
    double signs = 0;
    while (fgets(line, sizeof(line), p) != NULL) {
        if (strstr(line, marker) == NULL)
            continue;
        char *fields[32];
        int n = 0;
        for (char *tok = strtok(line, " \t\n"); tok != NULL && n < 32; tok = strtok(NULL, " \t\n"))
            fields[n++] = tok;
        if (n >= 2)
            signs = strtod(fields[n - 2], NULL);
    }
    if (pclose(p) != 0)
        return 0;
    return signs;
}

/* openssl_version - first line of `openssl version` (static buffer) */
static const char *
openssl_version(void)
{
    static char line[256] = "unknown";
    FILE *p = popen("openssl version 2>/dev/null", "r");
    if (p == NULL)
        return line;
    if (fgets(line, sizeof(line), p) != NULL)
        line[strcspn(line, "\n")] = '\0';
    pclose(p);
    return line;
}

/* parse_opts - command line; exits on misuse */
static struct bench_opts
parse_opts(int argc, char **argv)
{
    struct bench_opts o = {2000, 5000, 20.0, 2};
    int c;
    while ((c = getopt(argc, argv, "r:e:t:s:")) != -1) {
        switch (c) {
        case 'r':
            o.rsa_iterations = atol(optarg);
            break;
        case 'e':
            o.ed_iterations = atol(optarg);
            break;
        case 't':
            o.max_seconds = atof(optarg);
            break;
        case 's':
            o.openssl_seconds = atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: bench_sign [-r RSA_ITERATIONS] [-e ED25519_ITERATIONS] "
                            "[-t MAX_SECONDS_PER_CASE] [-s OPENSSL_SECONDS]\n");
            exit(2);
        }
    }
    if (o.rsa_iterations < 1 || o.ed_iterations < 1 || o.max_seconds <= 0 ||
        o.openssl_seconds < 1) {
        fprintf(stderr, "bench_sign: iterations and seconds must be positive\n");
        exit(2);
    }
    return o;
}

/* print_row - one line of the pipeline table */
static void
print_row(const char *alg, const char *mode, const struct bench_result *r)
{
    printf("%-10s %-16s %10ld %9.2f %10.0f %12.3f\n", alg, mode, r->iterations, r->wall,
           r->iterations / r->wall, 1000.0 * r->cpu / r->iterations);
}

/* main - set up keys and a runtime, measure, print */
int
main(int argc, char **argv)
{
    struct bench_opts o = parse_opts(argc, argv);
    const char *dir = scratch_dir;
    if (mkdtemp(scratch_dir) == NULL) {
        fprintf(stderr, "bench_sign: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    scratch_made = true;
    atexit(remove_scratch);
    char *rsa_key = new_key(dir, "rsa.pem", SG_KEY_RSA);
    char *ed_key = new_key(dir, "ed25519.pem", SG_KEY_ED25519);
    char *conf = write_config(dir, rsa_key, ed_key);

    sg_mime_init();
    struct sg_config *cfg = NULL;
    struct sg_runtime *rt = NULL;
    char *error = NULL;
    if (sg_config_load(conf, NULL, 0, &cfg, &error) != SG_OK ||
        sg_runtime_new(cfg, getuid(), &rt, &error) != SG_OK) {
        fprintf(stderr, "bench_sign: %s\n", error);
        return 1;
    }

    size_t rsa_len, ed_len;
    char *rsa_msg = make_message("rsa.example.nl", &rsa_len);
    char *ed_msg = make_message("ed.example.nl", &ed_len);

    struct bench_result rsa_p =
        run_case(rt, rsa_msg, rsa_len, false, o.rsa_iterations, o.max_seconds, "rsa-2048 pipeline");
    struct bench_result rsa_pp = run_case(rt, rsa_msg, rsa_len, true, o.rsa_iterations,
                                          o.max_seconds, "rsa-2048 parse+pipeline");
    struct bench_result ed_p =
        run_case(rt, ed_msg, ed_len, false, o.ed_iterations, o.max_seconds, "ed25519 pipeline");
    struct bench_result ed_pp = run_case(rt, ed_msg, ed_len, true, o.ed_iterations, o.max_seconds,
                                         "ed25519 parse+pipeline");

    double rsa_ossl = openssl_speed("rsa2048", "2048 bits", o.openssl_seconds);
    double ed_ossl = openssl_speed("ed25519", "Ed25519", o.openssl_seconds);

    printf("sendguard bench_sign: in-process sg_pipeline_run (analyse From, decide, DKIM-sign),\n"
           "1 thread, %zu-byte message, canonicalization relaxed/relaxed\n",
           rsa_len);
    printf("libopendkim %s, %s\n", sg_dkim_version(), openssl_version());
    printf(
        "  pipeline       = message parsed once, then only sg_pipeline_run per iteration\n"
        "  parse+pipeline = sg_msg_new + sg_msg_parse + sg_pipeline_run + free per iteration\n\n");
    printf("%-10s %-16s %10s %9s %10s %12s\n", "algorithm", "case", "messages", "seconds", "msgs/s",
           "CPU ms/msg");
    print_row("rsa-2048", "pipeline", &rsa_p);
    print_row("rsa-2048", "parse+pipeline", &rsa_pp);
    print_row("ed25519", "pipeline", &ed_p);
    print_row("ed25519", "parse+pipeline", &ed_pp);

    printf("\nopenssl speed -seconds %d (sign only, 1 thread)\n", o.openssl_seconds);
    printf("%-10s %12s %20s %26s\n", "algorithm", "signs/s", "pipeline/openssl",
           "parse+pipeline/openssl");
    int status = 0;
    const struct {
        const char *name;
        double ossl;
        const struct bench_result *p, *pp;
    } rows[] = {{"rsa-2048", rsa_ossl, &rsa_p, &rsa_pp}, {"ed25519", ed_ossl, &ed_p, &ed_pp}};
    for (size_t i = 0; i < SG_NELEM(rows); i++) {
        if (rows[i].ossl <= 0) {
            printf("%-10s %12s %20s %26s\n", rows[i].name, "n/a", "n/a", "n/a");
            fprintf(stderr, "bench_sign: `openssl speed` gave no figure for %s\n", rows[i].name);
            status = 1;
            continue;
        }
        double p = rows[i].p->iterations / rows[i].p->wall;
        double pp = rows[i].pp->iterations / rows[i].pp->wall;
        printf("%-10s %12.1f %20.2f %26.2f\n", rows[i].name, rows[i].ossl, p / rows[i].ossl,
               pp / rows[i].ossl);
    }

    sg_runtime_unref(&rt);
    free(rsa_msg);
    free(ed_msg);
    free(rsa_key);
    free(ed_key);
    free(conf);
    return status;
}
