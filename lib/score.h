/*
 * score.h - the content risk score of a message, with every rule hit
 * explained.  A pure function of the analysed content (content.h), the
 * compiled rules (rules.h) and the current time.
 */
#ifndef SG_SCORE_H
#define SG_SCORE_H

#include "content.h"
#include "rules.h"

#include <time.h>

struct sg_hit {
    const char *rule;    /* rule id (borrowed from the rules) */
    const char *explain; /* for the admin (borrowed from the rules) */
    double weight;
    const char *where; /* "subject", "body", "attachment", "header", "links", "structure" */
    char *snippet;     /* what matched, as the reader sees it (UTF-8, one line) */
};

struct sg_score {
    double total;
    struct sg_hit *hits; /* in order of weight, heaviest first */
    size_t nhits;
};

/* sg_score_content - score content with rules as of now; fills *score
 * (free with sg_score_clear).  The rules must outlive the score. */
void sg_score_content(const struct sg_rules *rules, const struct sg_content *content, time_t now,
                      struct sg_score *score);

/* sg_score_clear - free the hits and zero the score */
void sg_score_clear(struct sg_score *score);

#endif
