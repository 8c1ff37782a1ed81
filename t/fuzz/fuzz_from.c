/*
 * fuzz_from.c - libFuzzer target over From header values: any bytes (up to
 * the first NUL) as a From field's value, parsed for its one address
 * (sg_mime_from) and rewritten for a relay (sg_mime_from_via).  The rewrite
 * must exist exactly when there is one mailbox, be one printable ASCII line
 * that parses back to exactly the relay address, and be no longer than a
 * header line may be.
 * Nothing may crash, hang, leak or read out of bounds.
 *
 * Built only with -DSG_FUZZ=ON and clang:
 *   cmake --build build-fuzz --target fuzz_from
 *   build-fuzz/t/fuzz/fuzz_from -max_total_time=60 CORPUS_DIR t/data/from
 */
#include "mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - one input as a From value */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = sg_xstrndup((const char *)data, size);
    char *addr = NULL;
    enum sg_from_status st = sg_mime_from(value, &addr);
    if ((st == SG_FROM_ONE) != (addr != NULL))
        abort();
    if (addr != NULL) {
        char *domain = sg_addr_domain(addr);
        free(domain);
    }

    char *via = sg_mime_from_via(value, "relay@relay.example", "relay.example");
    /* sg_mime_from also wants an '@' in the address; the rewrite does not. */
    if (st == SG_FROM_ONE && via == NULL)
        abort();
    if (via != NULL) {
        if (via[0] != ' ' || strlen(via) > 998)
            abort();
        for (const char *p = via; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                abort();
        char *back = NULL;
        if (sg_mime_from(via, &back) != SG_FROM_ONE || strcmp(back, "relay@relay.example") != 0)
            abort();
        free(back);
    }
    free(via);
    free(addr);
    free(value);
    return 0;
}
