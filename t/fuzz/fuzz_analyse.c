/*
 * fuzz_analyse.c - libFuzzer target over the whole content analysis: any
 * bytes as a message file, parsed into header fields and body, MIME
 * analysis, rule hits, action.  Nothing may crash, hang, leak or read out of
 * bounds.  The shipped rules are used (SG_SOURCE_DIR/etc/rules.conf, or
 * etc/rules.conf relative to the working directory).
 *
 * Built only with -DSG_FUZZ=ON and clang; .ci/run runs it for a bounded time
 * on a corpus seeded from t/data.
 */
#include "config.h"
#include "message.h"
#include "mime.h"
#include "pipeline.h"
#include "runtime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static struct sg_config *cfg;
static struct sg_rules *rules;

/* setup - configuration and rules, once */
static void
setup(void)
{
    const char *src = getenv("SG_SOURCE_DIR");
    char *conf = sg_xasprintf("%s/etc/sendguard.conf", src ? src : ".");
    char *error = NULL;
    if (sg_config_load(conf, NULL, 0, &cfg, &error) != SG_OK ||
        sg_runtime_load_rules(cfg, &rules, &error) != SG_OK) {
        fprintf(stderr, "fuzz_analyse: %s\n", error);
        abort();
    }
    free(conf);
    sg_mime_init();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - one message through the analysis */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL)
        setup();
    struct sg_msg *msg = sg_msg_new(64 * 1024, "/tmp");
    char *error = NULL;
    if (sg_msg_parse(msg, (const char *)data, size, &error) == SG_OK) {
        struct sg_verdict v;
        sg_pipeline_analyse(cfg, rules, msg, SG_ORIGIN_INTERNAL, 1790000000, &v);
        char *line = sg_verdict_log_line(&v, NULL, 1);
        free(line);
        sg_verdict_clear(&v);
    }
    free(error);
    sg_msg_free(&msg);
    return 0;
}
