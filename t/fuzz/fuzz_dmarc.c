/*
 * fuzz_dmarc.c - libFuzzer target over DMARC record parsing and alignment:
 * any bytes as a TXT record (an exact-size NUL-terminated copy of the
 * input up to its first NUL, so an overread is caught), and the input's
 * two halves as a pair of domains for strict and relaxed alignment; a
 * record that parses goes on through the prediction and its one-line
 * explanation, which must stay ASCII.
 * Nothing may crash, hang, leak or read out of bounds.
 *
 * Built only with -DSG_FUZZ=ON and clang:
 *   cmake --build build-fuzz --target fuzz_dmarc
 *   build-fuzz/t/fuzz/fuzz_dmarc -max_total_time=60 CORPUS_DIR
 */
#include "dmarc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - one input as a record and as two domains */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *txt = sg_xstrndup((const char *)data, size);
    struct sg_dmarc_record r;
    char *error = NULL;
    enum sg_rc rc = sg_dmarc_parse(txt, &r, &error);
    if ((rc == SG_OK) != (error == NULL))
        abort();
    free(error);
    (void)sg_dmarc_is_record(txt);

    size_t half = size / 2;
    char *a = sg_xstrndup((const char *)data, half);
    char *b = sg_xstrndup((const char *)data + half, size - half);
    bool strict = sg_dmarc_aligned(a, b, 's');
    bool relaxed = sg_dmarc_aligned(a, b, 'r');
    if (strict && !relaxed)
        abort(); /* strict alignment implies relaxed */

    if (rc == SG_OK) {
        struct sg_dmarc_policy pol = {
            .lookup = SG_DMARC_LOOKUP_FOUND, .record = r, .nfound = 1, .from_org = size % 2};
        sg_strlcpy(pol.domain, b, sizeof(pol.domain));
        struct sg_dmarc_prediction pred;
        sg_dmarc_predict(&pol, a, SG_SPF_PASS, b, a, &pred);
        char *line = sg_dmarc_explain(&pred, b);
        for (const char *p = line; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                abort();
        free(line);
    }
    free(a);
    free(b);
    free(txt);
    return 0;
}
