/*
 * fold.h - case and accent folding of UTF-8 text, so that "Factuur",
 * "FACTUUR" and "factúur" match the same rule term, and "betaling" matches
 * "Betaling".  Folding keeps a map back to the input, so that a match can be
 * shown as the snippet the reader saw.
 *
 * Pure functions; thread-safe.
 */
#ifndef SG_FOLD_H
#define SG_FOLD_H

#include "common.h"

struct sg_folded {
    char *text;         /* folded: lower case, accents removed, NUL-terminated */
    size_t len;
    size_t *offsets;    /* offsets[i] = byte offset in the input of folded byte i;
                         * offsets[len] = input length */
};

/* sg_fold - fold len bytes of UTF-8 (invalid bytes are kept as they are) */
void sg_fold(const char *text, size_t len, struct sg_folded *out);
void sg_folded_clear(struct sg_folded *f);

/* sg_fold_str - folded copy of a NUL-terminated string (caller frees) */
char *sg_fold_str(const char *text);

#endif
