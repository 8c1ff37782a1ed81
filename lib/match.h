/*
 * match.h - find many terms in folded text in one pass (Aho-Corasick), so
 * that the cost of scoring does not grow with the number of terms.
 *
 * A term is folded text (see fold.h) and matches either as a whole word or
 * as a word prefix ("betaling" as prefix matches "betalingsherinnering").
 * Word boundaries: a term must start at a word start; a whole-word term must
 * also end at a word end.  Word characters are letters and digits (any byte
 * >= 0x80 counts as a letter, so UTF-8 words stay whole).
 *
 * Build once (sg_matcher_add..., sg_matcher_compile), then any thread may
 * call sg_matcher_scan.
 */
#ifndef SG_MATCH_H
#define SG_MATCH_H

#include "common.h"

enum sg_match_mode { SG_MATCH_WORD, SG_MATCH_PREFIX };

struct sg_matcher;

struct sg_matcher *sg_matcher_new(void);
void sg_matcher_free(struct sg_matcher **m);

/* sg_matcher_add - add a term (already folded, non-empty) with an id the caller chooses */
void sg_matcher_add(struct sg_matcher *m, const char *term, enum sg_match_mode mode, size_t id);

/* sg_matcher_compile - build the automaton; no more adds afterwards */
void sg_matcher_compile(struct sg_matcher *m);

/* sg_match_fn - called for every match: term id, and the byte range [start, end) in text.
 * Return false to stop scanning. */
typedef bool sg_match_fn(size_t id, size_t start, size_t end, void *arg);

/* sg_matcher_scan - report every match of every term in text (left to right by end) */
void sg_matcher_scan(const struct sg_matcher *m, const char *text, size_t len, sg_match_fn *fn,
                     void *arg);

#endif
