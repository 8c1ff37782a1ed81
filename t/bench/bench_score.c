/*
 * bench_score.c - content scoring speed, in process, one thread: the whole
 * sg_pipeline_analyse (MIME analysis, folding, rule matching, structural
 * rules) on a generated mix of small and large messages, with the shipped
 * rules and with ten times as many terms.  One automaton pass per text means
 * the 10x rule set should cost about the same; the figure shows whether it does.
 *
 * Prints figures; exits non-zero only when the measurement cannot run.
 * Usage: bench_score [-s SECONDS]   (SG_SOURCE_DIR names the source tree)
 */
#include "config.h"
#include "message.h"
#include "mime.h"
#include "pipeline.h"
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* now - monotonic seconds */
static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const words[] = {
    "factuur", "betaling", "bedrag", "levering", "klant",    "artikel", "totaal", "btw",
    "invoice", "payment",  "amount", "delivery", "customer", "order",   "total",  "vat",
    "graag",   "termijn",  "dagen",  "bijlage",  "regards",  "please",  "thanks", "groet"};

/* make_message - a multipart/alternative invoice with about text_bytes of text */
static char *
make_message(size_t text_bytes, unsigned seed)
{
    size_t cap = text_bytes * 3 + 4096, n = 0;
    char *text = sg_xmalloc(text_bytes + 64);
    while (n < text_bytes) {
        const char *w = words[(seed = seed * 1103515245u + 12345u) % SG_NELEM(words)];
        n += (size_t)sprintf(text + n, "%s%s", w, (seed >> 8) % 11 == 0 ? ".\r\n" : " ");
    }
    char *msg = sg_xmalloc(cap);
    int len = snprintf(msg, cap,
                       "From: Boekhouding <factuur@example.nl>\r\n"
                       "To: klant@example.com\r\n"
                       "Subject: Factuur 2026-%04u\r\n"
                       "Date: Tue, 03 Mar 2026 10:15:00 +0100\r\n"
                       "Message-ID: <f%u@example.nl>\r\n"
                       "MIME-Version: 1.0\r\n"
                       "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
                       "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
                       "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                       "<html><body><p>%s</p><a href=\"https://example.nl/f\">example.nl</a>"
                       "</body></html>\r\n--alt--\r\n",
                       seed % 10000, seed, text, text);
    free(text);
    if (len < 0 || (size_t)len >= cap)
        abort();
    return msg;
}

/* spec_times - the shipped rules, with every term list repeated k times (new ids, made-up words) */
static struct sg_rules *
load_rules(const char *path, int k)
{
    struct sg_rules_spec *spec;
    struct sg_rules *rules;
    char *error = NULL;
    if (sg_config_load_rules(path, &spec, &error) != SG_OK) {
        fprintf(stderr, "bench_score: %s\n", error);
        exit(1);
    }
    size_t base = spec->nlists;
    spec->lists = sg_xrealloc(spec->lists, (base * (size_t)k + 1) * sizeof(*spec->lists));
    for (int r = 1; r < k; r++) {
        for (size_t i = 0; i < base; i++) {
            struct sg_term_list *src = &spec->lists[i], *dst = &spec->lists[spec->nlists++];
            *dst = *src;
            dst->id = sg_xasprintf("%s_x%d", src->id, r);
            dst->explain = sg_xstrdup(src->explain);
            dst->lang = sg_xstrdup(src->lang);
            dst->terms = sg_xcalloc(src->nterms + 1, sizeof(char *));
            for (size_t t = 0; t < src->nterms; t++)
                dst->terms[t] = sg_xasprintf("%s%c%d", src->terms[t], 'q', r); /* never in text */
        }
    }
    size_t nterms = 0;
    for (size_t i = 0; i < spec->nlists; i++)
        nterms += spec->lists[i].nterms;
    if (sg_rules_compile(spec, &rules, &error) != SG_OK) {
        fprintf(stderr, "bench_score: %s\n", error);
        exit(1);
    }
    printf("  rule set x%-2d: %zu term lists, %zu terms\n", k, spec->nlists / 1, nterms);
    return rules;
}

struct sample {
    char *data;
    size_t len;
    size_t text_bytes;
};

/* run - analyse the samples round-robin for at least seconds; print msgs/s and MB/s */
static void
run(const char *label, const struct sg_config *cfg, const struct sg_rules *rules, struct sample *s,
    size_t ns, double seconds)
{
    size_t done = 0, bytes = 0, hits = 0;
    double t0 = now(), t;
    do {
        for (size_t i = 0; i < ns; i++) {
            struct sg_msg *msg = sg_msg_new(1 << 20, "/tmp");
            char *error = NULL;
            if (sg_msg_parse(msg, s[i].data, s[i].len, &error) != SG_OK) {
                fprintf(stderr, "bench_score: %s\n", error);
                exit(1);
            }
            struct sg_verdict v;
            sg_pipeline_analyse(cfg, rules, msg, SG_ORIGIN_INTERNAL, 1772529300, &v);
            hits += v.score.nhits;
            sg_verdict_clear(&v);
            sg_msg_free(&msg);
            bytes += s[i].text_bytes;
            done++;
        }
        t = now() - t0;
    } while (t < seconds);
    if (hits == 0) {
        fprintf(stderr, "bench_score: no rule ever hit: the rules did not load\n");
        exit(1);
    }
    printf("  %-34s %8zu msgs %7.2f s %9.0f msgs/s %8.1f MB/s text\n", label, done, t,
           (double)done / t, (double)bytes / t / 1e6);
}

int
main(int argc, char **argv)
{
    double seconds = 3;
    int ch;
    while ((ch = getopt(argc, argv, "s:")) != -1) {
        if (ch != 's') {
            fprintf(stderr, "usage: bench_score [-s SECONDS]\n");
            return 2;
        }
        seconds = atof(optarg);
    }
    const char *src = getenv("SG_SOURCE_DIR");
    char *conf = sg_xasprintf("%s/etc/sendguard.conf", src ? src : ".");
    char *rules_path = sg_xasprintf("%s/etc/rules.conf", src ? src : ".");
    struct sg_config *cfg;
    char *error = NULL;
    if (sg_config_load(conf, NULL, 0, &cfg, &error) != SG_OK) {
        fprintf(stderr, "bench_score: %s\n", error);
        return 1;
    }
    sg_mime_init();

    /* The mix: mostly short mails (2 KB of text), some long ones (200 KB). */
    struct sample s[10];
    for (unsigned i = 0; i < SG_NELEM(s); i++) {
        s[i].text_bytes = i < 8 ? 2000 : 200000;
        s[i].data = make_message(s[i].text_bytes, i + 1);
        s[i].len = strlen(s[i].data);
        s[i].text_bytes *= 2; /* the text goes in twice: plain and HTML */
    }
    printf("sendguard bench_score: sg_pipeline_analyse (MIME, folding, rules), 1 thread,\n"
           "a mix of 8 messages with 2 KB and 2 with 200 KB of text (plain + HTML)\n");
    struct sg_rules *r1 = load_rules(rules_path, 1);
    struct sg_rules *r10 = load_rules(rules_path, 10);
    run("shipped rules", cfg, r1, s, SG_NELEM(s), seconds);
    run("10x the terms", cfg, r10, s, SG_NELEM(s), seconds);
    run("shipped rules (again, for noise)", cfg, r1, s, SG_NELEM(s), seconds);
    sg_rules_free(&r1);
    sg_rules_free(&r10);
    for (unsigned i = 0; i < SG_NELEM(s); i++)
        free(s[i].data);
    sg_config_free(&cfg);
    free(conf);
    free(rules_path);
    return 0;
}
